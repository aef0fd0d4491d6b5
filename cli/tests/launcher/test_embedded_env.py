"""Embedded servers get an explicit minimal environment, never the launcher's: a variable the
user exported (here a canary) or the master key must not be readable in their /proc environ."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from berth_cli.launcher.platform import Platform
from berth_cli.launcher.supervisor import minimal_env
from berth_testing import isolated_settings

CANARY = "berth-canary-" + os.urandom(4).hex()
MASTER_KEY = base64.b64encode(os.urandom(32)).decode()


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


@pytest.mark.integration
async def test_embedded_servers_never_see_the_launchers_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BERTH_TEST_CANARY", CANARY)
    monkeypatch.setenv("BERTH_MASTER_KEY", MASTER_KEY)
    platform = Platform(isolated_settings(tmp_path / "home"), services=())
    await platform.start()
    try:
        for name in ("postgres", "nats", "caddy"):
            pid = platform.supervisor.child(name).pid
            assert pid is not None
            env = environ_of(pid)
            leaked = [k for k, v in env.items() if CANARY in v or MASTER_KEY in v or k == "BERTH_MASTER_KEY"]
            assert not leaked, f"{name} sees {leaked}"
            assert env["PATH"] and env["HOME"], name
    finally:
        await platform.stop()


def test_minimal_env_keeps_language_and_time_zone_and_nothing_else() -> None:
    launcher = {"LANG": "de_DE.UTF-8", "TZ": "Europe/Berlin", "BERTH_MASTER_KEY": "k", "AWS_SECRET": "s", "PATH": "/x"}
    env = minimal_env(Path("/srv/caddy"), launcher, GOGC="50")
    assert env == {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/srv/caddy",
        "LANG": "de_DE.UTF-8",
        "TZ": "Europe/Berlin",
        "GOGC": "50",
    }
    assert minimal_env(Path("/h"), {})["LANG"] == "C.UTF-8"
