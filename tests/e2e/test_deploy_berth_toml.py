"""`berth deploy APP DIR` of the realistic Python app whose berth.toml states a formation (ADR 0026
§1, §3): the build's release records web x2, a worker and a release command from the file; both
web instances serve through the proxy, the worker runs and logs, and the release command's output
is in the release's log (and on the deploy's terminal)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from berth_testing import RunningPlatform, wait_for
from python_app import app_context

pytestmark = pytest.mark.e2e

BERTH = str(Path(sys.executable).parent / "berth")

BERTH_TOML = """\
stop_timeout = 5
release = "python migrate.py"
[processes]
web = { count = 2 }
worker = { command = "python worker.py" }
"""


def running(p: RunningPlatform, app_id: str, process: str) -> list[dict[str, Any]]:
    return [
        c
        for c in p.containers(app_id)
        if c["State"]["Running"]  # type: ignore[index]
        and c["Config"]["Labels"].get("berth.process", "web") == process  # type: ignore[index]
        and "berth.run" not in c["Config"]["Labels"]  # type: ignore[index, operator]
    ]


def test_berth_deploy_of_a_directory_runs_the_formation_its_berth_toml_states(
    platform: RunningPlatform, pyapp_images: dict[str, str], tmp_path: Path
) -> None:
    p = platform
    app_id = p.api.post("/api/apps", json={"name": "tomlx"}).json()["id"]
    source = app_context(tmp_path / "src", "v1", BERTH_TOML)
    env = {**os.environ, "BERTH_URL": p.base, "BERTH_TOKEN": p.token, "XDG_CONFIG_HOME": str(p.home / "cli-config")}
    deployed = subprocess.run(
        [BERTH, "deploy", "tomlx", str(source)], env=env, capture_output=True, text=True, timeout=600
    )
    assert deployed.returncode == 0, (deployed.stdout, deployed.stderr)
    assert "release | migrate: done" in deployed.stdout, deployed.stdout

    (release,) = p.api.get("/api/apps/tomlx/releases").json()["items"]
    assert release["kind"] == "build" and release["status"] == "live"
    formation = release["formation"]
    assert {name: (p_["command"], p_["count"]) for name, p_ in formation["processes"].items()} == {
        "web": ([], 2),  # the image's CMD
        "worker": (["python", "worker.py"], 1),
    }
    assert formation["releaseCommand"]["command"] == ["python", "migrate.py"]
    detail = p.api.get(f"/api/apps/tomlx/releases/{release['id']}").json()
    assert "migrate: applying 0001_initial" in detail["releaseLog"]
    assert "migrate: done" in detail["releaseLog"]

    # web x2 serve through the proxy: every answer comes from one of the two, and both answer.
    webs = wait_for(lambda: w if len(w := running(p, app_id, "web")) == 2 else None, timeout=60, what="2 web")
    names = {str(c["Config"]["Hostname"]) for c in webs}  # type: ignore[index]
    answered = {str(p.proxy_get("tomlx.berth.test", "/whoami").json()["hostname"]) for _ in range(40)}
    assert answered == names  # Caddy picks at random: 2 x 0.5^40 to miss one

    # The worker runs the file's command and logs as the worker process.
    assert len(running(p, app_id, "worker")) == 1

    def worker_ticks() -> list[dict[str, Any]]:
        items = p.api.get("/api/apps/tomlx/logs", params={"process": "worker", "q": "worker tick"}).json()["items"]
        return [i for i in items if i["releaseId"] == release["id"]]

    wait_for(worker_ticks, timeout=30, what="the worker's lines in the app's logs")
