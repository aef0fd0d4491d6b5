"""A formation's rollout against the real platform with the realistic Python app (ADR 0026 §1, §3):
web x2 + workers redeployed, reconfigured and rolled back under steady requests through the
proxy (no request fails; once a release's last ``old.stopped`` step is in, the engine runs no
container of the release before it; the rollback brings back that release's worker count), a
release command that fails (its exit code and last lines in the reason, the old release keeps
serving, nothing of the failed release left), and formations the API refuses (422 per field)."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from berth_testing import LoadGenerator, RunningPlatform, api_error, deploy_live, wait_for

pytestmark = pytest.mark.e2e


def release(p: RunningPlatform, app: str, release_id: str) -> dict[str, Any]:
    return dict(p.api.get(f"/api/apps/{app}/releases/{release_id}").json())


def settled(p: RunningPlatform, app: str, release_id: str) -> dict[str, Any]:
    """The release once it is live or failed."""

    def done() -> dict[str, Any] | None:
        r = release(p, app, release_id)
        return r if r["status"] in ("live", "failed") else None

    return dict(wait_for(done, timeout=180, interval=0.3, what=f"release {release_id} live or failed"))


def accepted(response: Any) -> str:
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def instances(p: RunningPlatform, app_id: str) -> list[dict[str, Any]]:
    """The app's process containers (not one-off runs) the engine runs, with their labels."""
    running = []
    for c in p.containers(app_id):
        labels = c["Config"]["Labels"]
        if c["State"]["Running"] and "berth.run" not in labels and labels.get("berth.process") != "release":
            running.append({"id": c["Id"], "process": labels.get("berth.process", "web"), **labels})
    return running


def rolled_out(p: RunningPlatform, app: str, app_id: str, release_id: str) -> dict[str, Any]:
    """Wait for ``release_id`` live and its rollout's last step (``old.stopped`` of every old
    instance), then ask the engine at once: only the new release's instances run."""
    old = [c for c in instances(p, app_id) if c["berth.release"] != release_id]
    live = settled(p, app, release_id)
    assert live["status"] == "live", live["reason"]
    wanted = Counter(c["process"] for c in old)
    assert wanted, "no instance of the release before it was seen running"

    def last_step_in() -> dict[str, Any] | None:
        r = release(p, app, release_id)
        stopped = Counter(s["process"] for s in r["steps"] if s["step"] == "old.stopped")
        return r if all(stopped[k] >= n for k, n in wanted.items()) else None

    done = wait_for(last_step_in, timeout=90, what=f"old.stopped of {dict(wanted)} on {release_id}")
    left = [c for c in instances(p, app_id) if c["berth.release"] != release_id]
    assert left == [], f"old-release containers running after the rollout's last step: {left}"
    return dict(done)


def app_live(p: RunningPlatform, name: str, image: str, **settings: Any) -> str:
    """Create app ``name``, deploy ``image`` live; the app's id."""
    return str(deploy_live(p, name, image, **settings)["Config"]["Labels"]["berth.app"])


def counts(p: RunningPlatform, app_id: str) -> Counter[str]:
    return Counter(c["process"] for c in instances(p, app_id))


def test_web_x2_and_workers_roll_out_under_load_and_a_rollback_returns_the_formation(
    platform: RunningPlatform, pyapp_images: dict[str, str]
) -> None:
    p = platform
    app, app_id = "fleet", app_live(p, "fleet", pyapp_images["v1"], stopTimeoutSeconds=5)
    formation = {"processes": {"web": {"count": 2}, "worker": {"command": "python worker.py", "count": 2}}}
    with_workers = accepted(p.api.put(f"/api/apps/{app}/formation", json=formation))
    rolled_out(p, app, app_id, with_workers)
    assert counts(p, app_id) == Counter({"web": 2, "worker": 2})
    wait_for(lambda: p.proxy_get(f"{app}.berth.test").text == "v1\n", what="v1 served")

    with LoadGenerator(p.proxy_port, f"{app}.berth.test", workers=3, max_seconds=400) as load:
        wait_for(lambda: load.count() > 30, what="traffic flowing")

        # A new image: every process moves to it; the old web pair and both old workers are gone.
        v2 = accepted(p.api.post(f"/api/apps/{app}/deploy", json={"image": pyapp_images["v2"]}))
        steps = rolled_out(p, app, app_id, v2)["steps"]
        assert counts(p, app_id) == Counter({"web": 2, "worker": 2})
        assert [s["step"] for s in steps].count("process.ready") == 2  # each new worker gated
        since = time.monotonic()
        wait_for(lambda: load.bodies_since(since) == {"v2\n"}, what="only v2 served")

        # An env change with one worker: a release of the same image, the second worker gone.
        fewer = {"processes": {"web": {"count": 2}, "worker": {"command": "python worker.py", "count": 1}}}
        one_worker = accepted(p.api.put(f"/api/apps/{app}/formation", json=fewer))
        rolled_out(p, app, app_id, one_worker)
        assert counts(p, app_id) == Counter({"web": 2, "worker": 1})
        changed = p.api.post(f"/api/apps/{app}/env", json={"vars": {"GREETING": "hi"}})
        assert changed.status_code == 200, changed.text
        env = str(changed.json()["release"]["id"])
        rolled_out(p, app, app_id, env)
        assert counts(p, app_id) == Counter({"web": 2, "worker": 1})

        # Rolling back to the release with two workers on v1 brings both back.
        back = accepted(p.api.post(f"/api/apps/{app}/rollback", json={"releaseId": with_workers}))
        rolled_out(p, app, app_id, back)
        assert counts(p, app_id) == Counter({"web": 2, "worker": 2})
        assert release(p, app, back)["formation"]["processes"]["worker"]["count"] == 2
        since = time.monotonic()
        wait_for(lambda: load.bodies_since(since) == {"v1\n"}, what="only v1 served after the rollback")
        total = load.count()
    failures = load.failures()
    assert total > 300
    assert failures == [], f"{len(failures)} of {total} requests failed, first: {failures[:3]}"

    # The workers of the live release tick in the app's logs under the live release.
    def ticks() -> bool:
        lines = p.api.get(f"/api/apps/{app}/logs", params={"q": "worker tick", "limit": 50}).json()["items"]
        return any(f"release={back}" in line["message"] for line in lines)

    wait_for(ticks, timeout=30, what="a tick of the rolled-back release's worker in the logs")


def test_a_failing_release_command_fails_the_release_and_the_old_one_keeps_serving(
    platform: RunningPlatform, pyapp_images: dict[str, str]
) -> None:
    p = platform
    app, app_id = "migrator", app_live(p, "migrator", pyapp_images["v1"], stopTimeoutSeconds=5)
    before = {c["id"] for c in instances(p, app_id)}
    wait_for(lambda: p.proxy_get(f"{app}.berth.test").text == "v1\n", what="v1 served")

    with LoadGenerator(p.proxy_port, f"{app}.berth.test", workers=2, max_seconds=240) as load:
        wait_for(lambda: load.count() > 20, what="traffic flowing")
        body = {"releaseCommand": "sh -c 'echo migrating; echo step two; exit 7'"}
        failing = accepted(p.api.put(f"/api/apps/{app}/formation", json=body))
        failed = settled(p, app, failing)
        assert failed["status"] == "failed"
        reason = failed["reason"]
        assert "exited with 7" in reason and "migrating" in reason and "step two" in reason, reason
        wait_for(
            lambda: "migrating\nstep two" in (release(p, app, failing).get("releaseLog") or ""),
            timeout=15,
            what="the command's output in the release's log",
        )
        steps = [s["step"] for s in release(p, app, failing)["steps"]]
        assert "release_command.finished" in steps
        assert not {"container.created", "proxy.switched"} & set(steps), steps
        since = time.monotonic()
        wait_for(lambda: load.count() > 0 and any(s.at > since + 1 for s in load.samples), what="requests after")
        total = load.count()
    assert load.failures() == [], load.failures()[:3]
    assert total > 50
    assert load.bodies_since(0) == {"v1\n"}
    assert p.api.get(f"/api/apps/{app}").json()["currentReleaseId"] != failing
    # Nothing of the failed release is left: no release command's container, no new instance.
    left = [c["Id"] for c in p.containers(app_id) if c["Config"]["Labels"].get("berth.release") == failing]
    assert left == []
    assert {c["id"] for c in instances(p, app_id)} == before


def test_a_restart_rolls_every_process_without_the_release_command_and_an_env_change_runs_it_with_the_new_env(
    platform: RunningPlatform, pyapp_images: dict[str, str]
) -> None:
    p = platform
    app, app_id = "cycler", app_live(p, "cycler", pyapp_images["v1"], stopTimeoutSeconds=5)
    formation = {
        "processes": {"web": {"count": 1}, "worker": {"command": "python worker.py"}},
        "releaseCommand": "python migrate.py",
    }
    configured = accepted(p.api.put(f"/api/apps/{app}/formation", json=formation))
    rolled_out(p, app, app_id, configured)
    assert "migrate: done" in (release(p, app, configured).get("releaseLog") or "")

    # A restart moves the worker too (a new container of the restart release, the old one
    # stopped), but migrates nothing.
    old_worker = {c["id"] for c in instances(p, app_id) if c["process"] == "worker"}
    restart = accepted(p.api.post(f"/api/apps/{app}/restart"))
    steps = rolled_out(p, app, app_id, restart)["steps"]
    assert counts(p, app_id) == Counter({"web": 1, "worker": 1})
    new_worker = {c["id"] for c in instances(p, app_id) if c["process"] == "worker"}
    assert new_worker and not new_worker & old_worker
    assert [s["process"] for s in steps if s["step"] == "old.stopped"][-1] == "worker"
    assert not [s for s in steps if s["step"].startswith("release_command.")], steps
    assert not release(p, app, restart).get("releaseLog")

    # An env change runs the command again, in the new env: MIGRATE_EXIT=5 makes it fail, the
    # restart's release keeps running.
    before = {c["id"] for c in instances(p, app_id)}
    changed = p.api.post(f"/api/apps/{app}/env", json={"vars": {"MIGRATE_EXIT": "5"}})
    assert changed.status_code == 200, changed.text
    failed = settled(p, app, str(changed.json()["release"]["id"]))
    assert failed["status"] == "failed" and "exited with 5" in failed["reason"], failed["reason"]
    assert "migrate: failed with code 5" in failed["reason"]
    assert p.api.get(f"/api/apps/{app}").json()["currentReleaseId"] == restart
    assert {c["id"] for c in instances(p, app_id)} == before


def test_invalid_formations_get_422_naming_each_field(platform: RunningPlatform, pyapp_images: dict[str, str]) -> None:
    """Through the real API edge, cases services/api/tests/routes/test_processes.py does not send
    (it covers a bad 5-field schedule, concurrency, counts, reserved names and capacity): an
    interval below 5 s, a schedule never due, a blank command, a release command given alone
    that names no program; nothing is released."""
    p = platform
    app = "badform"
    deploy_live(p, app, pyapp_images["v1"])
    job = {"name": "tick", "schedule": "@every 5s", "command": "python cronjob.py 0"}
    bad = {
        "cron": [
            {**job, "schedule": "@every 1s"},
            {**job, "name": "feb30", "schedule": "0 0 30 2 *"},
            {**job, "name": "blank", "command": "   "},
        ],
        "releaseCommand": "sh -c 'oops",
    }
    error = api_error(p.api.put(f"/api/apps/{app}/formation", json=bad), 422, "validation_failed")
    problems = {d["field"]: d["message"] for d in error["details"]}
    assert sorted(problems) == ["cron[0].schedule", "cron[1].schedule", "cron[2].command", "releaseCommand"], error
    assert "shorter than 5s" in problems["cron[0].schedule"] and "never due" in problems["cron[1].schedule"]
    assert [r["kind"] for r in p.api.get(f"/api/apps/{app}/releases").json()["items"]] == ["deploy"]
