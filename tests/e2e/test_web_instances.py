"""Every web instance of an app serves through the proxy (ADR 0026 §2): the agent names their
addresses, the router's slot DNS answers all of them and Caddy balances across them; scaled
down, only the instance left serves. Realistic Python app (``/whoami`` names the container)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from berth_testing import RunningPlatform, wait_for

pytestmark = pytest.mark.e2e

BERTH = str(Path(sys.executable).parent / "berth")


def berth(p: RunningPlatform, *args: str) -> str:
    env = {**os.environ, "BERTH_URL": p.base, "BERTH_TOKEN": p.token, "XDG_CONFIG_HOME": str(p.home / "cli-config")}
    result = subprocess.run([BERTH, *args], env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return result.stdout


def hosts(p: RunningPlatform, count: int) -> set[str]:
    return {str(p.proxy_get("webx.berth.test", "/whoami").json()["hostname"]) for _ in range(count)}


def web(p: RunningPlatform, app_id: str) -> list[dict[str, Any]]:
    return [
        c
        for c in p.containers(app_id)
        if c["State"]["Running"] and c["Config"]["Labels"].get("berth.process", "web") == "web"  # type: ignore[index]
    ]


def test_both_web_instances_serve_and_a_scale_down_leaves_the_one_kept(
    platform: RunningPlatform, pyapp_images: dict[str, str]
) -> None:
    p = platform
    app_id = p.api.post("/api/apps", json={"name": "webx"}).json()["id"]
    berth(p, "deploy", "webx", "--image", pyapp_images["v1"])
    release = p.api.put("/api/apps/webx/formation", json={"processes": {"web": {"count": 2}}})
    assert release.status_code == 202, release.text

    def live() -> bool:
        status = p.api.get(f"/api/apps/webx/releases/{release.json()['id']}").json()["status"]
        assert status != "failed"
        return bool(status == "live")

    wait_for(live, timeout=120, what="the formation's release live")
    wait_for(lambda: len(web(p, app_id)) == 2, timeout=60, what="the old release's web drained and stopped")
    instances = {str(c["Config"]["Hostname"]) for c in web(p, app_id)}  # type: ignore[index]
    assert len(instances) == 2
    assert hosts(p, 40) == instances  # both answer (Caddy picks at random: 2 x 0.5^40 to miss one)

    berth(p, "scale", "webx", "web=1")
    wait_for(lambda: len(web(p, app_id)) == 1, timeout=60, what="one web instance left")
    (kept,) = [str(c["Config"]["Hostname"]) for c in web(p, app_id)]  # type: ignore[index]
    assert hosts(p, 30) == {kept}
