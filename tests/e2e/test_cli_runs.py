"""`berth run` and `berth cron run` against the real platform (ADR 0026 §4-5): the API's run, the agent's one-off
container, the output relayed live to the terminal, stdin forwarded, the exit code returned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from berth_testing import RunningPlatform, wait_for

pytestmark = pytest.mark.e2e

BERTH = str(Path(sys.executable).parent / "berth")


def berth(p: RunningPlatform, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BERTH_URL": p.base, "BERTH_TOKEN": p.token, "XDG_CONFIG_HOME": str(p.home / "cli-config")}
    return subprocess.run([BERTH, *args], env=env, capture_output=True, text=True, timeout=180, input=stdin)


def test_berth_run_prints_the_output_forwards_stdin_and_exits_with_the_run(
    platform: RunningPlatform, pyapp_images: dict[str, str]
) -> None:
    p = platform
    created = berth(p, "apps", "create", "clirun", "--json")
    assert created.returncode == 0, created.stderr
    app_id = json.loads(created.stdout)["id"]
    deployed = berth(p, "deploy", "clirun", "--image", pyapp_images["v1"])
    assert deployed.returncode == 0, (deployed.stdout, deployed.stderr)

    script = "import os, sys; print('out', os.environ['BERTH_APP']); print('err', file=sys.stderr); sys.exit(3)"
    ran = berth(p, "run", "clirun", "--", "python", "-c", script)
    assert ran.returncode == 3, (ran.stdout, ran.stderr)
    assert ran.stdout == "out clirun\n" and "err\n" in ran.stderr and "Traceback" not in ran.stderr

    echo = "import sys; print(sys.stdin.read().upper(), end='')"
    piped = berth(p, "run", "clirun", "-i", "--", "python", "-c", echo, stdin="hello\nworld\n")
    assert piped.returncode == 0, (piped.stdout, piped.stderr)
    assert piped.stdout == "HELLO\nWORLD\n"

    runs = p.api.get("/api/apps/clirun/runs").json()
    items = runs["items"] if isinstance(runs, dict) else runs
    assert sorted(r["exitCode"] for r in items) == [0, 3]
    leftover = [c for c in p.containers(app_id) if "berth.run" in c["Config"]["Labels"]]  # type: ignore[index]
    assert leftover == []  # each run's container went once it finished


def test_berth_cron_run_runs_the_job_now_and_its_history_keeps_the_outcome(
    platform: RunningPlatform, pyapp_images: dict[str, str]
) -> None:
    p = platform
    created = berth(p, "apps", "create", "clicron", "--json")
    assert created.returncode == 0, created.stderr
    app_id = json.loads(created.stdout)["id"]
    deployed = berth(p, "deploy", "clicron", "--image", pyapp_images["v1"])
    assert deployed.returncode == 0, (deployed.stdout, deployed.stderr)
    job = "python -c 'import sys; print(\"cron ran\"); sys.exit(2)'"
    formation = {"cron": [{"name": "nightly", "schedule": "@daily", "command": job}]}
    release = p.api.put("/api/apps/clicron/formation", json=formation)
    assert release.status_code == 202, release.text

    def live() -> bool:
        status = p.api.get(f"/api/apps/clicron/releases/{release.json()['id']}").json()["status"]
        assert status != "failed"
        return bool(status == "live")

    wait_for(live, timeout=120, what="the formation's release live")

    def listed() -> bool:  # the scheduler takes the live release's jobs up on its own
        jobs = p.api.get("/api/apps/clicron/cron").json()
        return "nightly" in [j["name"] for j in (jobs["items"] if isinstance(jobs, dict) else jobs)]

    wait_for(listed, timeout=60, what="the job listed")
    now = berth(p, "cron", "run", "clicron", "nightly")
    assert now.returncode == 0, (now.stdout, now.stderr)

    def finished() -> list[dict[str, object]]:
        items = p.api.get("/api/apps/clicron/cron/nightly/runs").json()["items"]
        return [r for r in items if r["status"] not in ("pending", "running")]

    [run] = wait_for(finished, timeout=60, what="the cron run's end")
    assert (run["kind"], run["status"], run["exitCode"]) == ("cron", "exited", 2)
    assert run["lastLines"] == ["cron ran"] and run["trigger"] != "schedule"

    # Run now and wait: the CLI exits with the job's exit code; the history shows both manual runs.
    waited = berth(p, "cron", "run", "clicron", "nightly", "--wait")
    assert waited.returncode == 2, (waited.stdout, waited.stderr)
    shown = berth(p, "cron", "history", "clicron", "nightly")
    assert shown.returncode == 0, shown.stderr
    rows = [line.split() for line in shown.stdout.splitlines()[1:] if line.split()[1:2] == ["manual"]]
    assert len(rows) == 2 and all(row[3:5] == ["exited", "2"] for row in rows), shown.stdout
    assert any(run["id"].startswith(row[0]) for row in rows)  # the first run is listed by its id
    listed = berth(p, "cron", "list", "clicron")
    assert listed.returncode == 0, listed.stderr
    [job_line] = [line for line in listed.stdout.splitlines() if line.startswith("nightly")]
    assert "@daily" in job_line and "exited 2" in job_line and job_line.endswith("ago")  # its last run
    leftover = [c for c in p.containers(app_id) if "berth.run" in c["Config"]["Labels"]]  # type: ignore[index]
    assert leftover == []
