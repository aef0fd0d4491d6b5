"""The generated NATS configuration: loopback only, JetStream, one restricted user per service."""

from __future__ import annotations

import json
from pathlib import Path

from berth_cli.launcher.nats_server import PERMISSIONS, render_config


def config() -> dict[str, object]:
    passwords = {user: f"pw-{user}" for user in PERMISSIONS}
    return dict(json.loads(render_config(port=4222, store_dir=Path("/s"), passwords=passwords, observer_password="o")))


def test_listens_on_loopback_with_jetstream() -> None:
    c = config()
    assert c["listen"] == "127.0.0.1:4222"
    assert c["jetstream"]["store_dir"] == "/s"  # type: ignore[index]


def test_each_service_publishes_only_its_own_events() -> None:
    users = {u["user"]: u for u in config()["authorization"]["users"]}  # type: ignore[index]
    assert set(users) == {"api", "agent", "router", "logs", "health", "observer"}
    for name in ("api", "agent", "router", "logs", "health"):
        allowed = users[name]["permissions"]["publish"]["allow"]
        own = [s for s in allowed if s.startswith("berth.evt.")]
        assert own == [f"berth.evt.{name}.>"], (name, own)
        assert users[name]["password"] == f"pw-{name}"
    assert "berth.cmd.agent.*.>" in users["api"]["permissions"]["publish"]["allow"]
    assert not any(s.startswith("berth.") for s in users["observer"]["permissions"]["publish"]["allow"])
