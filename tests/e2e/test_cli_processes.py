"""`berth ps`, `berth scale` and `berth cron list|history` against the real
platform with the realistic Python app (web x2 + a worker, a daily cron job; ADR 0026).
`berth run` and `berth cron run` need the agent's one-off runs: their e2e comes with them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from berth_testing import RunningPlatform, wait_for

pytestmark = pytest.mark.e2e

BERTH = str(Path(sys.executable).parent / "berth")


def berth(p: RunningPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BERTH_URL": p.base, "BERTH_TOKEN": p.token, "XDG_CONFIG_HOME": str(p.home / "cli-config")}
    return subprocess.run([BERTH, *args], env=env, capture_output=True, text=True, timeout=180)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result))


def running(p: RunningPlatform, app_id: str, process: str) -> list[dict[str, Any]]:
    return [
        c
        for c in p.containers(app_id)
        if c["State"]["Running"] and c["Config"]["Labels"].get("berth.process", "web") == process  # type: ignore[index]
    ]


def test_ps_scale_logs_and_cron_through_the_cli(platform: RunningPlatform, pyapp_images: dict[str, str]) -> None:
    p = platform
    app = as_json(berth(p, "apps", "create", "clipy", "--json"))
    ok(berth(p, "deploy", "clipy", "--image", pyapp_images["v1"]))
    formation = {
        "processes": {"web": {"count": 2}, "worker": {"command": "python worker.py"}},
        "cron": [{"name": "nightly", "schedule": "@daily", "command": "python cronjob.py 1"}],
    }
    release = p.api.put("/api/apps/clipy/formation", json=formation)
    assert release.status_code == 202, release.text

    def live() -> bool:
        status = p.api.get(f"/api/apps/clipy/releases/{release.json()['id']}").json()["status"]
        assert status != "failed"
        return bool(status == "live")

    wait_for(live, timeout=120, what="the formation's release live")
    assert p.proxy_get("clipy.berth.test").text == "v1\n"

    processes = {item["name"]: item for item in as_json(berth(p, "ps", "clipy", "--json"))["items"]}
    assert (processes["web"]["count"], processes["web"]["routed"]) == (2, True)
    assert (processes["worker"]["count"], processes["worker"]["command"]) == (1, ["python", "worker.py"])
    table = ok(berth(p, "ps", "clipy")).splitlines()
    assert table[1].split()[:3] == ["web", "*", "2"]
    assert table[2].split()[:4] == ["worker", "1", "python", "worker.py"]

    # A scale starts the second worker without a release; both tick into the app's logs.
    assert "worker   2 (scaled)" in ok(berth(p, "scale", "clipy", "worker=2"))
    wait_for(lambda: len(running(p, app["id"], "worker")) == 2, timeout=60, what="two workers running")

    # `--process worker` shows only the workers' lines, each marked with its process.
    def both_workers_log() -> bool:
        lines = ok(berth(p, "logs", "clipy", "--process", "worker", "-n", "50")).splitlines()
        assert all(" [worker] " in line for line in lines), lines
        text = "\n".join(lines)
        return "host=clipy-worker-0" in text and "host=clipy-worker-1" in text

    wait_for(both_workers_log, timeout=30, what="ticks of both workers in `berth logs`")

    # Too many instances for the app's network: a usage error naming the field, nothing changes.
    refused = berth(p, "scale", "clipy", "worker=9")
    assert refused.returncode == 2, (refused.stdout, refused.stderr)
    assert "count" in refused.stderr and "Traceback" not in refused.stderr
    assert len(running(p, app["id"], "worker")) == 2

    jobs = as_json(berth(p, "cron", "list", "clipy", "--json"))
    assert [(j["name"], j["schedule"]) for j in jobs] == [("nightly", "@daily")]
    assert jobs[0]["nextRunAt"]
    assert ok(berth(p, "cron", "list", "clipy")).splitlines()[1].split()[:2] == ["nightly", "@daily"]
    assert ok(berth(p, "cron", "history", "clipy", "nightly")) == "nightly has not run yet.\n"
