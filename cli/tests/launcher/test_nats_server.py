"""The generated NATS configuration: loopback only, JetStream, one restricted user per service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from berth_cli.launcher.nats_server import PERMISSIONS, render_config
from berth_shared.streams import OWNED_CONSUMERS

SERVICES = ("api", "agent", "router", "logs", "health")


def config(**extra: str) -> dict[str, object]:
    passwords = {user: f"pw-{user}" for user in PERMISSIONS}
    return dict(json.loads(render_config(port=4222, store_dir=Path("/s"), passwords=passwords, **extra)))


def users(**extra: str) -> dict[str, dict[str, Any]]:
    return {u["user"]: u for u in config(**extra)["authorization"]["users"]}  # type: ignore[index]


def test_listens_on_loopback_with_jetstream() -> None:
    c = config()
    assert c["listen"] == "127.0.0.1:4222"
    assert c["jetstream"]["store_dir"] == "/s"  # type: ignore[index]


def test_jetstream_acknowledges_only_what_it_has_written_to_disk() -> None:
    assert config()["jetstream"]["sync_interval"] == "always"  # type: ignore[index]


def test_each_service_publishes_only_its_own_events() -> None:
    found = users()
    for name in SERVICES:
        allowed = found[name]["permissions"]["publish"]["allow"]
        own = [s for s in allowed if s.startswith("berth.evt.")]
        assert own == [f"berth.evt.{name}.>"], (name, own)
        assert found[name]["password"] == f"pw-{name}"
    assert "berth.cmd.agent.*.>" in found["api"]["permissions"]["publish"]["allow"]


def test_a_normal_start_has_no_observer_and_no_provisioner() -> None:
    assert set(users()) == set(SERVICES)
    with_both = users(observer_password="o", provisioner_password="p")
    assert set(with_both) == {*SERVICES, "observer", "provision"}
    assert not any(s.startswith("berth.") for s in with_both["observer"]["permissions"]["publish"]["allow"])


def test_each_service_subscribes_only_to_its_own_inbox_prefix_and_queries() -> None:
    for name, user in users().items():
        subscribe = user["permissions"]["subscribe"]["allow"]
        assert f"_INBOX_{name}.>" in subscribe
        assert not any(s in (">", "_INBOX.>") or s.startswith("_INBOX.") for s in subscribe), (name, subscribe)
        others = [s for s in subscribe if s.startswith("_INBOX") and s != f"_INBOX_{name}.>"]
        assert others == [], (name, others)


def test_no_service_may_manage_streams_or_use_the_whole_jetstream_api() -> None:
    for name, user in users().items():
        publish = user["permissions"]["publish"]["allow"]
        assert not any(s in ("$JS.API.>", "$JS.ACK.>", ">") for s in publish), name
        for verb in ("CREATE", "UPDATE", "DELETE", "PURGE"):
            assert not any(s.startswith(f"$JS.API.STREAM.{verb}") for s in publish), (name, verb)
        assert not any(s.startswith("$JS.API.STREAM.LIST") for s in publish), name


def test_consumers_only_by_name_of_the_owner() -> None:
    found = users()
    for name, user in found.items():
        publish = user["permissions"]["publish"]["allow"]
        nexts = {s.removeprefix("$JS.API.CONSUMER.MSG.NEXT.") for s in publish if ".MSG.NEXT." in s}
        assert nexts == {f"{stream}.{durable}" for stream, durable in OWNED_CONSUMERS[name]}, name
    assert "$JS.API.CONSUMER.DURABLE.CREATE.BERTH_CMD.*" in found["agent"]["permissions"]["publish"]["allow"]
    assert "$JS.ACK.BERTH_EVT.logs-lines.>" not in found["logs"]["permissions"]["publish"]["allow"]
    assert "$JS.ACK.BERTH_LOGS.logs-lines.>" in found["logs"]["permissions"]["publish"]["allow"]


def test_build_contexts_only_for_the_api_and_the_agent() -> None:
    for name, user in users().items():
        touches = [s for s in user["permissions"]["publish"]["allow"] if "BERTH_BUILDS" in s]
        assert bool(touches) == (name in ("api", "agent")), (name, touches)
        writes = [s for s in touches if s.startswith("$O.")]
        assert bool(writes) == (name == "api"), (name, writes)


def test_only_the_agent_asks_for_desired_state() -> None:
    for name, user in users().items():
        # Besides the app list (no secrets; the resyncing services, tested below).
        asks = [
            s
            for s in user["permissions"]["publish"]["allow"]
            if s.startswith("berth.rpc.api") and s != "berth.rpc.api.apps.list"
        ]
        assert asks == (["berth.rpc.api.desired.>"] if name == "agent" else []), name


def test_only_the_services_that_resync_may_ask_the_api_for_its_app_list() -> None:
    found = users()
    askers = {name for name in SERVICES if "berth.rpc.api.apps.list" in found[name]["permissions"]["publish"]["allow"]}
    assert askers == {"router", "logs", "health"}
    for name in SERVICES:
        # Nobody gets it through a wildcard of the API's queries.
        assert not any(
            s in ("berth.rpc.api.>", "berth.rpc.api.apps.>") for s in found[name]["permissions"]["publish"]["allow"]
        )


def test_only_the_agent_switches_slots_and_only_the_router_asks_the_agents_for_them() -> None:
    found = users()
    for name in SERVICES:
        publish = found[name]["permissions"]["publish"]["allow"]
        router_queries = [s for s in publish if s.startswith("berth.rpc.router")]
        agent_queries = [s for s in publish if s.startswith("berth.rpc.agent")]
        assert router_queries == {
            "agent": ["berth.rpc.router.slots.switch"],
            "api": ["berth.rpc.router.domains.list"],
        }.get(name, []), name
        assert agent_queries == {"api": ["berth.rpc.agent.>"], "router": ["berth.rpc.agent.*.slots"]}.get(name, []), (
            name
        )


def test_only_the_agent_writes_run_output_and_only_the_api_writes_run_input() -> None:
    found = users()
    for name in SERVICES:
        perms = found[name]["permissions"]
        writes = [s for s in perms["publish"]["allow"] if s.startswith("berth.run.")]
        reads = [s for s in perms["subscribe"]["allow"] if s.startswith("berth.run.")]
        assert writes == {"agent": ["berth.run.*.*.out"], "api": ["berth.run.*.*.in"]}.get(name, []), name
        assert reads == {"agent": ["berth.run.*.*.in"], "api": ["berth.run.*.*.out"]}.get(name, []), name
