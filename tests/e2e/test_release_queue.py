"""Releases through the whole platform: different apps deploy in parallel (one app's slow start
does not hold another's up); deploys of one app are queued and the newest request wins (a
release queued behind the one starting is `superseded` and the agent never starts it); a
rollback to an explicit earlier release, by the API and by `berth rollback APP RELEASE`.

Slow starts are held open by the test, not by timers: the gated image serves only once the
test creates /tmp/go in its container."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from berth_testing import RunningPlatform, build_busybox_image, wait_for

pytestmark = pytest.mark.e2e

GATED = ["/bin/sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.1; done; exec httpd -f -p 8080 -h /www"]


@pytest.fixture(scope="module")
def gated() -> str:
    return build_busybox_image("berth-test/web:gated", "gated\n", GATED)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def create(p: RunningPlatform, name: str) -> dict[str, Any]:
    return dict(ok(p.api.post("/api/apps", json={"name": name, "stopTimeoutSeconds": 1}), 201))


def deploy(p: RunningPlatform, app: str, image: str) -> dict[str, Any]:
    return dict(ok(p.api.post(f"/api/apps/{app}/deploy", json={"image": image}), 202))


def release(p: RunningPlatform, app: str, release_id: str) -> dict[str, Any]:
    return dict(ok(p.api.get(f"/api/apps/{app}/releases/{release_id}")))


def wait_live(p: RunningPlatform, app: str, release_id: str) -> dict[str, Any]:
    def live() -> dict[str, Any] | None:
        r = release(p, app, release_id)
        assert r["status"] not in ("failed", "superseded"), r
        return r if r["status"] == "live" else None

    return wait_for(live, timeout=180, what=f"{app} release {release_id} live")


def starting_container(p: RunningPlatform, app: dict[str, Any], release_id: str) -> str:
    """The running container of a release that has started but is not live yet."""

    def found() -> str | None:
        status = release(p, app["name"], release_id)["status"]
        assert status in ("pending", "starting"), status
        running = [c for c in p.containers(app["id"]) if c["State"]["Running"]]  # type: ignore[index]
        return str(running[0]["Id"]) if running and status == "starting" else None

    return wait_for(found, timeout=180, what=f"{app['name']}'s container to start")


def open_gate(container_id: str) -> None:
    subprocess.run(["docker", "exec", container_id, "touch", "/tmp/go"], check=True, capture_output=True)


def serves(p: RunningPlatform, app: str, text: str) -> bool:
    return p.proxy_get(f"{app}.berth.test").text == text


def test_different_apps_deploy_in_parallel(platform: RunningPlatform, gated: str) -> None:
    first, second = create(platform, "par-one"), create(platform, "par-two")
    one, two = deploy(platform, "par-one", gated), deploy(platform, "par-two", gated)
    # Both releases are starting at once: neither waits for the other to go live.
    containers = [starting_container(platform, first, one["id"]), starting_container(platform, second, two["id"])]
    assert release(platform, "par-one", one["id"])["status"] != "live"
    assert release(platform, "par-two", two["id"])["status"] != "live"
    for container in containers:
        open_gate(container)
    wait_live(platform, "par-one", one["id"])
    wait_live(platform, "par-two", two["id"])
    wait_for(lambda: serves(platform, "par-one", "gated\n") and serves(platform, "par-two", "gated\n"))


def test_the_newest_request_wins_and_a_queued_release_never_starts(
    platform: RunningPlatform, gated: str, test_images: dict[str, str]
) -> None:
    app = create(platform, "queue")
    first = deploy(platform, "queue", gated)
    container = starting_container(platform, app, first["id"])  # in flight, held open by the test
    queued = deploy(platform, "queue", test_images["v1"])
    newest = deploy(platform, "queue", test_images["v2"])

    skipped = release(platform, "queue", queued["id"])
    assert skipped["status"] == "superseded", skipped
    assert "newer release was requested before it started" in skipped["reason"]
    with contextlib.suppress(subprocess.CalledProcessError):  # the agent may already have moved on
        open_gate(container)
    wait_live(platform, "queue", newest["id"])
    wait_for(lambda: serves(platform, "queue", "v2\n"), what="the newest release serving")

    # The queued release was never started by the agent: its command's hops (ADR 0023) but no
    # rollout step, no container.
    steps = {s["step"] for s in release(platform, "queue", queued["id"])["steps"]}
    assert steps <= {"command.published", "command.received"}, steps
    assert release(platform, "queue", first["id"])["status"] == "superseded"
    images = {c["Config"]["Image"] for c in platform.containers(app["id"])}  # type: ignore[index]
    assert test_images["v1"] not in images
    shown = ok(platform.api.get("/api/apps/queue"))
    assert shown["currentReleaseId"] == newest["id"] and shown["status"] == "running"


def berth(p: RunningPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BERTH_URL": p.base, "BERTH_TOKEN": p.token, "XDG_CONFIG_HOME": str(p.home / "cli-config")}
    command = [str(Path(sys.executable).parent / "berth"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_rollback_to_an_explicit_release_by_api_and_cli(platform: RunningPlatform, test_images: dict[str, str]) -> None:
    v3 = build_busybox_image("berth-test/web:v3", "v3\n")
    create(platform, "pick")
    r1 = wait_live(platform, "pick", deploy(platform, "pick", test_images["v1"])["id"])
    r2 = wait_live(platform, "pick", deploy(platform, "pick", test_images["v2"])["id"])
    wait_live(platform, "pick", deploy(platform, "pick", v3)["id"])
    wait_for(lambda: serves(platform, "pick", "v3\n"))

    # Not the default (v2, the last live release with another image): the first release.
    rolled = ok(platform.api.post("/api/apps/pick/rollback", json={"releaseId": r1["id"]}), 202)
    assert rolled["kind"] == "rollback" and rolled["rollbackOf"] == r1["id"]
    live = wait_live(platform, "pick", rolled["id"])
    assert live["image"] == r1["imageDigest"] and live["imageDigest"] == r1["imageDigest"]  # what v1 ran
    wait_for(lambda: serves(platform, "pick", "v1\n"), what="v1 serving again")

    # The CLI names the release by id, waits until it is live, and says so.
    result = berth(platform, "rollback", "pick", r2["id"], "--json")
    assert result.returncode == 0, (result.stdout, result.stderr)
    by_cli = json.loads(result.stdout)
    assert (by_cli["kind"], by_cli["status"], by_cli["rollbackOf"]) == ("rollback", "live", r2["id"])
    assert by_cli["imageDigest"] == r2["imageDigest"]
    wait_for(lambda: serves(platform, "pick", "v2\n"), what="v2 serving again")
    kinds = [r["kind"] for r in ok(platform.api.get("/api/apps/pick/releases"))["items"]]
    assert kinds == ["rollback", "rollback", "deploy", "deploy", "deploy"]

    # An unknown release is refused naming it, and nothing changes.
    missing = berth(platform, "rollback", "pick", "00000000-0000-0000-0000-000000000000")
    assert missing.returncode == 5, (missing.stdout, missing.stderr)
    assert len(ok(platform.api.get("/api/apps/pick/releases"))["items"]) == 5
