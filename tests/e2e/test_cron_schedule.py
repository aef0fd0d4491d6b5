"""The cron scheduler inside the API against the real platform with the realistic Python app
(ADR 0026 §4, 4a): exactly one history entry per due time of an ``@every 5s`` job across a
``kill -9`` of the API (no due time skipped, none doubled; a run late by more than its interval
is recorded ``missed``), and the concurrency policies of jobs that run longer than their
interval, watched in the engine: ``forbid`` never runs two and records the due times it held
back as ``skipped``, ``allow`` runs at most 3, ``replace`` stops the running one for the next."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from berth_testing import RunningPlatform, deploy_live, wait_for

pytestmark = pytest.mark.e2e

EVERY = timedelta(seconds=5)
# kill -9s of the API in a row: `berth up` waits 0.5, 1, 2, 4 and 8 s before it starts it again.
KILLS = 5
FINISHED = ("exited", "stopped", "timed_out", "failed_to_start", "lost")


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def history(p: RunningPlatform, app: str, job: str) -> list[dict[str, Any]]:
    return list(p.api.get(f"/api/apps/{app}/cron/{job}/runs", timeout=10).json()["items"])


def with_jobs(p: RunningPlatform, app: str, jobs: list[dict[str, Any]]) -> None:
    """Give the live app ``jobs`` and wait until the scheduler has taken them up."""
    response = p.api.put(f"/api/apps/{app}/formation", json={"cron": jobs})
    assert response.status_code == 202, response.text
    rid = response.json()["id"]

    def live() -> bool:
        r = p.api.get(f"/api/apps/{app}/releases/{rid}").json()
        assert r["status"] != "failed", r["reason"]
        return bool(r["status"] == "live")

    wait_for(live, timeout=120, what=f"{app}'s cron release live")
    names = sorted(j["name"] for j in jobs)
    wait_for(
        lambda: sorted(j["name"] for j in p.api.get(f"/api/apps/{app}/cron").json()["items"]) == names,
        timeout=30,
        what=f"{names} scheduled",
    )


def covered_due_times(entries: list[dict[str, Any]]) -> Counter[datetime]:
    """Each due time the history accounts for, counted once per entry that covers it (a missed
    entry stands for ``missedCount`` due times from ``firstDueAt`` to ``dueAt``)."""
    covered: Counter[datetime] = Counter()
    for e in entries:
        if e["status"] == "missed":
            first, last, count = at(e["firstDueAt"]), at(e["dueAt"]), e["missedCount"]
            assert first + (count - 1) * EVERY == last, e
            covered.update(first + i * EVERY for i in range(count))
        else:
            covered[at(e["dueAt"])] += 1
    return covered


def running_runs(p: RunningPlatform, app_id: str) -> set[str]:
    """The run ids of the app's one-off containers the engine runs now."""
    return {
        str(c["Config"]["Labels"]["berth.run"])
        for c in p.containers(app_id)
        if c["State"]["Running"] and "berth.run" in c["Config"]["Labels"]
    }


def app_live(p: RunningPlatform, name: str, image: str, **settings: Any) -> str:
    """Create app ``name``, deploy ``image`` live; the app's id."""
    return str(deploy_live(p, name, image, **settings)["Config"]["Labels"]["berth.app"])


def new_api_pid(p: RunningPlatform, old: int) -> int | None:
    """The pid of an API process other than ``old``, once `berth up` started one."""
    try:
        pid = p.service_pid("berth_api")
    except LookupError:
        return None
    return pid if pid != old else None


def api_healthy(p: RunningPlatform) -> bool:
    return httpx.get(f"{p.base}/healthz", timeout=2).status_code == 200


def test_a_kill_9_of_the_api_neither_skips_nor_doubles_a_due_time(
    platform: RunningPlatform, pyapp_images: dict[str, str]
) -> None:
    p = platform
    app, app_id = "cronkill", app_live(p, "cronkill", pyapp_images["v1"])
    with_jobs(p, app, [{"name": "tick", "schedule": "@every 5s", "command": "python cronjob.py 0.5 --name tick"}])
    wait_for(lambda: len(history(p, app, "tick")) >= 2, timeout=30, what="two scheduled runs")

    # SIGKILL as the pass of a due time runs, then each API `berth up` starts again as soon as it
    # appears: the supervisor's backoff (0.5, 1, 2, 4, 8 s) keeps the scheduler away for more than
    # two intervals, so due times fall in the outage and the first of them is late by more than one.
    now = datetime.now(UTC)
    last_due = at(p.api.get(f"/api/apps/{app}/cron").json()["items"][0]["lastDueAt"])
    time.sleep(max(0.0, (last_due + EVERY + timedelta(milliseconds=20) - now).total_seconds()))
    killed_at = datetime.now(UTC)
    pid = p.service_pid("berth_api")
    for _ in range(KILLS):
        os.kill(pid, signal.SIGKILL)
        pid = wait_for(lambda old=pid: new_api_pid(p, old), timeout=60, interval=0.02, what="the API started again")
    respawned_at = datetime.now(UTC)  # the API that stays: nothing could be handled before it existed
    wait_for(lambda: api_healthy(p), timeout=90, what="the restarted API healthy")
    back_at = datetime.now(UTC)
    wait_for(  # three more due times after it is back
        lambda: any(at(e["dueAt"]) >= back_at + 3 * EVERY for e in history(p, app, "tick")),
        timeout=60,
        what="due times after the restart handled",
    )
    p.api.put(f"/api/apps/{app}/formation", json={"cron": None})  # stop the schedule for a stable history
    entries = history(p, app, "tick")

    covered = covered_due_times(entries)
    doubled = sorted(d for d, n in covered.items() if n > 1)
    assert doubled == [], f"due times with more than one entry: {doubled}"
    first, last = min(covered), max(covered)
    expected = {first + i * EVERY for i in range(int((last - first) / EVERY) + 1)}
    assert set(covered) == expected, f"due times skipped: {sorted(expected - set(covered))}"
    assert first < killed_at - EVERY and last > back_at + 2 * EVERY  # the window spans the outage
    for e in entries:
        if e["status"] != "missed":  # a run: on time or late by at most its interval
            assert e["trigger"] == "schedule" and e["lateMs"] is not None and e["lateMs"] <= 5000, e
    # Each due time in the outage is made visible: a run late by the outage's rest, or `missed`.
    entry_of = {d: e for e in entries for d in covered_due_times([e])}
    in_outage = sorted(d for d in covered if killed_at < d < respawned_at)
    assert len(in_outage) >= 2, (killed_at, respawned_at, sorted(covered))
    for d in in_outage:
        e = entry_of[d]
        waited_ms = (respawned_at - d) / timedelta(milliseconds=1)
        assert e["status"] == "missed" or e["lateMs"] >= waited_ms - 100, (d, e)
        assert e["status"] == "missed" or waited_ms <= 5000, (d, e)
    assert entry_of[in_outage[0]]["status"] == "missed"

    # Every run that was started ran to its end (none lost with the API).
    def ended() -> list[dict[str, Any]] | None:
        runs = [e for e in history(p, app, "tick") if e["status"] != "missed"]
        return runs if all(r["status"] in FINISHED for r in runs) else None

    runs = wait_for(ended, timeout=60, what="every run ended")
    assert {(r["status"], r["exitCode"]) for r in runs} == {("exited", 0)}, runs
    wait_for(lambda: running_runs(p, app_id) == set(), timeout=30, what="no run container left")


def test_concurrency_forbid_allow_and_replace_with_jobs_longer_than_their_interval(
    platform: RunningPlatform, pyapp_images: dict[str, str]
) -> None:
    p = platform
    app, app_id = "cronpolicy", app_live(p, "cronpolicy", pyapp_images["v1"])
    jobs = [
        {"name": name, "schedule": "@every 5s", "command": f"python cronjob.py {seconds} --name {name}", **policy}
        for name, seconds, policy in (
            ("forbid", 12, {}),
            ("allow", 40, {"concurrency": "allow"}),
            ("replace", 40, {"concurrency": "replace"}),
        )
    ]
    with_jobs(p, app, jobs)

    # Watch the engine for ~35 s: which runs are running together.
    seen: list[set[str]] = []
    deadline = time.monotonic() + 35
    while time.monotonic() < deadline:
        seen.append(running_runs(p, app_id))
        time.sleep(0.3)
    p.api.put(f"/api/apps/{app}/formation", json={"cron": None})
    by_job = {name: history(p, app, name) for name in ("forbid", "allow", "replace")}
    job_of = {e["id"]: name for name, entries in by_job.items() for e in entries}
    at_once = {name: max(sum(1 for r in s if job_of.get(r) == name) for s in seen) for name in by_job}

    # forbid: never two at once; the due times it held back are `skipped`, naming the run.
    forbid = by_job["forbid"]
    assert at_once["forbid"] == 1
    skipped = [e for e in forbid if e["status"] == "skipped"]
    assert len(skipped) >= 3 and all("still going (concurrency forbid)" in e["reason"] for e in skipped), forbid
    assert sum(1 for e in forbid if e["status"] not in ("skipped", "missed")) >= 2
    # allow: up to 3 at once, then `skipped` too.
    allow = by_job["allow"]
    assert at_once["allow"] == 3, seen
    assert any("allow: at most 3" in (e["reason"] or "") for e in allow if e["status"] == "skipped"), allow
    # replace: each due time starts a run and the one before it ends `stopped`.
    replace = by_job["replace"]
    assert not [e for e in replace if e["status"] == "skipped"], replace
    stopped = [e for e in replace if e["status"] == "stopped"]
    assert len(stopped) >= 4, replace
    assert all("replaced by the run due" in (e["reason"] or "") for e in stopped), stopped
    # Each job's entries account for every due time once.
    for name, entries in by_job.items():
        covered = covered_due_times(entries)
        assert max(covered.values()) == 1, (name, entries)
        first, last = min(covered), max(covered)
        assert len(covered) == int((last - first) / EVERY) + 1, (name, sorted(covered))
    assert p.api.delete(f"/api/apps/{app}").status_code == 202  # its 40 s runs go with it
