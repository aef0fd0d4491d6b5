"""Scaling web in place (ADR 0026 §1, §2) against the real platform, under a steady load of
requests through the proxy to the realistic Python app (``/whoami`` names the instance):

- ``berth scale APP web=3``: all three instances answer through the proxy;
- ``web=1``: once the scale's step is in, no request reaches a removed instance, and no request
  of the load fails across either scale (the removed ones are drained like a flip's old slot);
- ``web=0``: the proxy answers the app's 503 page at once (not after its retry window), and the
  app's proxy log says why;
- back to ``web=1``: it serves again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from berth_testing import LoadGenerator, RunningPlatform, deploy_live, wait_for

pytestmark = pytest.mark.e2e

BERTH = str(Path(sys.executable).parent / "berth")
APP = "scalew"
HOST = f"{APP}.berth.test"


def berth(p: RunningPlatform, *args: str) -> None:
    env = {**os.environ, "BERTH_URL": p.base, "BERTH_TOKEN": p.token, "XDG_CONFIG_HOME": str(p.home / "cli-config")}
    result = subprocess.run([BERTH, *args], env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)


def web_hostnames(p: RunningPlatform, app_id: str) -> set[str]:
    return {
        str(c["Config"]["Hostname"])  # type: ignore[index]
        for c in p.containers(app_id)
        if c["State"]["Running"]  # type: ignore[index]
        and c["Config"]["Labels"].get("berth.process", "web") == "web"  # type: ignore[index]
        and "berth.run" not in c["Config"]["Labels"]  # type: ignore[index, operator]
    }


def scaled_steps(p: RunningPlatform, release_id: str) -> list[dict[str, Any]]:
    steps = p.api.get(f"/api/apps/{APP}/releases/{release_id}").json()["steps"]
    return [s for s in steps if s["step"] == "process.scaled"]


def scale(p: RunningPlatform, release_id: str, count: int) -> None:
    """``berth scale APP web=N`` and wait for its ``process.scaled`` step (the scale's end)."""
    before = len(scaled_steps(p, release_id))
    berth(p, "scale", APP, f"web={count}")

    def done() -> dict[str, Any] | None:
        steps = scaled_steps(p, release_id)[before:]
        assert not any(s["detail"].startswith("failed") for s in steps), steps
        return steps[-1] if steps else None

    wait_for(done, timeout=90, interval=0.1, what=f"the scale to web={count} done")


def answering(p: RunningPlatform, count: int) -> set[str]:
    return {str(p.proxy_get(HOST, "/whoami").json()["hostname"]) for _ in range(count)}


def test_web_scales_in_place_under_load_and_to_zero_answers_503_at_once(
    platform: RunningPlatform, pyapp_images: dict[str, str]
) -> None:
    p = platform
    container = deploy_live(p, APP, pyapp_images["v1"], stopTimeoutSeconds=5)
    app_id = str(container["Config"]["Labels"]["berth.app"])
    release_id = str(container["Config"]["Labels"]["berth.release"])
    (first,) = web_hostnames(p, app_id)

    with LoadGenerator(p.proxy_port, HOST, workers=4, path="/whoami") as load:
        wait_for(lambda: len(load.samples) > 20, what="the load running")

        scale(p, release_id, 3)
        three = web_hostnames(p, app_id)
        assert len(three) == 3 and first in three
        # Every instance answers through the proxy (Caddy picks at random: 3 x (2/3)^60 to miss one).
        assert answering(p, 60) == three

        scale(p, release_id, 1)
        after_scale = time.monotonic()
        kept = wait_for(lambda: h if len(h := web_hostnames(p, app_id)) == 1 else None, timeout=60, what="web x1")
        wait_for(lambda: len([s for s in load.samples if s.at > after_scale]) > 100, what="requests after the scale")

    failed = load.failures()
    assert failed == [], f"{len(failed)} of {len(load.samples)} requests failed, e.g. {failed[:3]}"
    answered_by = [(s.at, json.loads(s.body)["hostname"]) for s in load.samples]
    assert {host for _, host in answered_by} == three  # the load reached every instance while it ran
    late = {host for at, host in answered_by if at > after_scale}
    assert late == kept, f"requests sent after the scale's end reached {late - kept}"

    # web=0: the proxy answers the app's 503 page at once, not after its retry window.
    scale(p, release_id, 0)
    wait_for(lambda: not web_hostnames(p, app_id), timeout=60, what="no web instance left")
    for _ in range(5):
        started = time.monotonic()
        response = p.proxy_get(HOST, "/whoami")
        took = time.monotonic() - started
        assert response.status_code == 503 and "has no web instance" in response.text, response.text[:200]
        assert took < 1.0, f"503 after {took:.2f}s"

    def told_in_the_proxy_log() -> bool:
        items = p.api.get(f"/api/apps/{APP}/logs", params={"stream": "proxy", "q": "no web instance"}).json()["items"]
        return any("web is scaled to 0" in i["message"] for i in items)

    wait_for(told_in_the_proxy_log, timeout=30, what="the app's proxy log saying it has no web instance")

    # Both the agent and the router restarted (neither remembers the scale; the router's marks
    # are emptied, as its first table does): the table, rebuilt from what the agent runs, marks
    # the app again, and the 503 comes at once again.
    killed = {module: p.service_pid(module) for module in ("berth_agent", "berth_router")}
    for pid in killed.values():
        os.kill(pid, signal.SIGKILL)
    marks = p.home / "router" / "no-instance"
    assert (marks / app_id).exists()
    for mark in marks.iterdir():
        mark.unlink()
    for module, pid in killed.items():
        wait_for(lambda m=module, old=pid: p.service_pid(m) != old, timeout=30, what=f"{module} restarted")

    def answers_503_at_once() -> bool:
        started = time.monotonic()
        response = p.proxy_get(HOST, "/whoami")
        took = time.monotonic() - started
        return response.status_code == 503 and "has no web instance" in response.text and took < 1.0

    wait_for(answers_503_at_once, timeout=60, what="the restarted router answering the 503 page at once")

    scale(p, release_id, 1)
    wait_for(lambda: p.proxy_get(HOST, "/").text == "v1\n", timeout=30, what="web x1 serving again")
