"""Crash and OOM history per process against the real platform with the realistic Python app
(issue 17, ADR 0026 §1 "Crashes per process"): a worker that outgrows its own memory limit is
killed by the kernel, started again with its own backoff, and given up alone; the app's history
names the process of every OOM kill, exit and crash (`GET events`, `berth events`), `GET processes`
and `berth ps` say the worker crashed, and web keeps serving."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from berth_testing import RunningPlatform, deploy_live, formation_live, wait_for

pytestmark = pytest.mark.e2e

BERTH = str(Path(sys.executable).parent / "berth")
# Up for the 2 s gate, then it takes 256 MiB under a 48 MiB limit: the kernel kills it.
HOG = "python -c \"import time; time.sleep(3); hog = b'x' * (256 << 20); time.sleep(60)\""


def history(p: RunningPlatform, app: str) -> list[dict[str, Any]]:
    return list(p.api.get(f"/api/apps/{app}/events", params={"limit": 500}).json()["items"])


def test_a_worker_killed_for_memory_is_told_by_process_and_crashes_alone_while_web_serves(
    platform: RunningPlatform, pyapp_images: dict[str, str]
) -> None:
    p = platform
    deploy_live(p, "hoggy", pyapp_images["v1"])
    formation = {"processes": {"web": {"count": 1}, "hog": {"command": HOG, "memoryMb": 48}}}
    release = formation_live(p, "hoggy", formation)

    def crashed() -> dict[str, Any] | None:
        return next((e for e in history(p, "hoggy") if e["kind"] == "app.crashed"), None)

    crash = wait_for(crashed, timeout=150, interval=1, what="the hog given up")
    assert (crash["detail"]["process"], crash["releaseId"]) == ("hog", release["id"])

    entries = history(p, "hoggy")
    ooms = [e["detail"]["process"] for e in entries if e["kind"] == "container.oom_killed"]
    assert len(ooms) >= 2 and set(ooms) == {"hog"}  # killed for memory again after each restart
    exits = [e["detail"] for e in entries if e["kind"] == "container.exited" and e["releaseId"] == release["id"]]
    assert {d["process"] for d in exits} == {"hog"} and {d["exitCode"] for d in exits} == {137}

    processes = {i["name"]: i for i in p.api.get("/api/apps/hoggy/processes").json()["items"]}
    assert processes["hog"]["crashed"] and not processes["web"]["crashed"]
    env = {**os.environ, "BERTH_URL": p.base, "BERTH_TOKEN": p.token, "XDG_CONFIG_HOME": str(p.home / "cli-config")}
    ps = subprocess.run([BERTH, "ps", "hoggy", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert ps.returncode == 0, ps.stderr
    assert {i["name"]: bool(i["crashed"]) for i in json.loads(ps.stdout)["items"]} == {"web": False, "hog": True}
    told = subprocess.run([BERTH, "events", "hoggy"], env=env, capture_output=True, text=True, timeout=60)
    assert told.returncode == 0, told.stderr
    oom_lines = [line for line in told.stdout.splitlines() if "container.oom_killed" in line]
    assert oom_lines and all("process=hog" in line for line in oom_lines), told.stdout
    assert any("app.crashed" in line and "process=hog" in line for line in told.stdout.splitlines())
    assert p.proxy_get("hoggy.berth.test").text == "v1\n"  # web keeps serving
