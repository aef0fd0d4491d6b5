"""The dashboard's Processes and Cron tabs in real headless Chromium against the whole platform
(issue 17, ADR 0026): a web + worker app of busybox shows both process types with their counts
and running instances; scaling the worker to 2 in the page starts a second worker (the engine
runs it and the page lists it, at its address), a count the app's network cannot hold is refused next to the
field, and 0 asks first; an ``@every 5s`` cron job's history fills in with exit codes, "Run now"
adds a manual run, and a run's "Logs" link opens the logs view filtered to that run; runs that
exit non-zero leave the app healthy."""

from __future__ import annotations

import re
from typing import Any

import pytest
from berth_testing import RunningPlatform, build_busybox_image, deploy_live, formation_live, wait_for
from dashboard_testing import Shots, expect_text, sign_in

pytestmark = pytest.mark.e2e

APP = "dashproc"
WORKER = "sh -c 'echo worker up; exec sleep 3600'"
FORMATION = {
    "processes": {"web": {"count": 1}, "worker": {"command": WORKER}},
    # allow: a manual run never waits for a scheduled one to end (forbid would answer 409 then).
    "cron": [
        {"name": "tick", "schedule": "@every 5s", "command": "sh -c 'echo tick ran; exit 3'", "concurrency": "allow"}
    ],
}


def worker_addresses(p: RunningPlatform, app_id: str) -> list[str]:
    """The addresses of the app's running workers, as the engine has them."""
    labels = [c["Config"]["Labels"] for c in p.containers(app_id) if c["State"]["Running"]]
    return sorted(label["berth.address"] for label in labels if label.get("berth.process") == "worker")


def instance_states(page: Any, process: str) -> list[str]:
    rows = page.locator(f'section[data-process="{process}"] tr[data-instance]')
    return [rows.nth(i).get_attribute("data-state") or "" for i in range(rows.count())]


def history_rows(page: Any, trigger: str, exit_code: int) -> int:
    selector = f'tr[data-trigger="{trigger}"] [data-exit-code="{exit_code}"]'
    return int(page.locator(selector).count())


def test_processes_and_cron_tabs(platform: RunningPlatform, page: Any) -> None:
    p = platform
    shots = Shots("processes-cron")
    image = build_busybox_image("berth-test/web:dashproc", "dashproc v1\n")
    container = deploy_live(p, APP, image)
    app_id = container["Config"]["Labels"]["berth.app"]
    formation_live(p, APP, FORMATION)

    # Processes: both types with their command, count, limits and a running instance each.
    sign_in(page, p)
    page.goto(f"{p.base}/apps/{APP}/processes")
    web, worker = page.locator('section[data-process="web"]'), page.locator('section[data-process="worker"]')
    expect_text(page, 'section[data-process="web"] [data-testid=process-count]', "^1$")
    expect_text(page, 'section[data-process="worker"] [data-testid=process-count]', "^1$")
    assert "routed" in web.inner_text()
    assert "the image's CMD" in web.inner_text()
    assert "sh -c 'echo worker up; exec sleep 3600'" in worker.inner_text()
    assert re.search(r"\d+ MB memory, [\d.]+ CPU each", worker.inner_text())
    wait_for(lambda: instance_states(page, "web") == ["running"], what="web instance running in the page")
    wait_for(lambda: instance_states(page, "worker") == ["running"], what="worker instance running in the page")
    shots.take(page, "processes")

    # More instances than the app's network holds: refused next to the field, nothing changes.
    field = page.get_by_label("Instances of worker")
    field.fill("9")
    worker.get_by_role("button", name="Scale").click()
    expect_text(page, 'section[data-process="worker"] .field-error', ".")
    assert [e for e in page.console_errors if "422" not in e] == []  # the refused count, on purpose
    page.console_errors.clear()
    # 0 stops every instance: the page asks first, and Cancel leaves it alone.
    field.fill("0")
    worker.get_by_role("button", name="Scale").click()
    expect_text(page, 'section[data-process="worker"] [role=alert]', "stops every worker instance")
    worker.get_by_role("button", name="Cancel").click()
    assert p.api.get(f"/api/apps/{APP}/processes").json()["items"][1]["count"] == 1

    # Scale the worker to 2: a second worker runs (the engine says so) and the page lists it.
    field.fill("2")
    worker.get_by_role("button", name="Scale").click()
    expect_text(page, 'section[data-process="worker"] [data-testid=process-count]', "^2$")
    assert "scaled" in worker.locator("h2").inner_text()
    wait_for(lambda: len(worker_addresses(p, app_id)) == 2, timeout=60, what="two workers running")
    wait_for(lambda: instance_states(page, "worker") == ["running", "running"], timeout=30, what="two worker instances")
    # Each at the address the agent gave it (what the engine's container says).
    shown = page.locator('section[data-process="worker"] [data-testid=instance-address]')
    assert sorted(shown.nth(i).inner_text() for i in range(shown.count())) == worker_addresses(p, app_id)
    shots.take(page, "worker-scaled")

    # Cron: the job, its next run, and scheduled runs with their exit code.
    page.get_by_role("link", name="Cron").click()
    job = page.locator('section[data-job="tick"]')
    job.wait_for()
    assert "@every 5s" in job.inner_text()
    assert "sh -c 'echo tick ran; exit 3'" in job.inner_text()
    assert "allow" in job.inner_text()
    wait_for(lambda: history_rows(page, "schedule", 3) >= 1, timeout=60, what="a scheduled run with exit 3")
    expect_text(page, 'section[data-job="tick"] dd', "exit 3")  # the last result

    # Run now: a manual run appears and ends with the job's exit code.
    job.get_by_role("button", name="Run now").click()
    wait_for(lambda: history_rows(page, "manual", 3) == 1, timeout=60, what="the manual run with exit 3")
    shots.take(page, "cron")

    # Its logs: the logs view filtered to that run, showing what it wrote and the process.
    manual = page.locator('tr[data-trigger="manual"]')
    run_id = manual.get_attribute("data-run")
    manual.get_by_role("link", name="Logs").click()
    page.wait_for_url(re.compile(rf"/apps/{APP}/logs\?run={run_id}$"))
    expect_text(page, "[data-testid=run-filter]", f"run {run_id[:8]}")
    expect_text(page, ".vlist", "tick ran", timeout=60)
    expect_text(page, ".vlist .proc", "cron", timeout=10)
    assert "worker up" not in page.locator(".vlist").inner_text()
    shots.take(page, "run-logs")
    # Every run's lines, then one process's: the workers' only.
    page.get_by_role("button", name="Show every run's lines").click()
    expect_text(page, ".vlist", "worker up")
    page.get_by_label("Process").select_option("worker")
    expect_text(page, ".vlist", "worker up")
    wait_for(lambda: "tick ran" not in page.locator(".vlist").inner_text(), timeout=10, what="only worker lines")
    assert page.console_errors == []
    # Runs that exited 3 are the job's failures, not the app's: web kept serving, healthy.
    runs = p.api.get(f"/api/apps/{APP}/cron/tick/runs").json()["items"]
    assert len([r for r in runs if r["exitCode"] == 3]) >= 2
    health = p.api.get(f"/api/apps/{APP}/health").json()
    assert (p.api.get(f"/api/apps/{APP}").json()["status"], health["state"]) == ("running", "healthy"), health

    # Stop the schedule and remove the app (the platform is shared by the session's tests).
    p.api.delete(f"/api/apps/{APP}")
