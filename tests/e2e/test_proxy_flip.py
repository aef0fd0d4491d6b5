"""How the proxy follows a flip (ADR 0025): the router tells Caddy the live slot, Caddy probes
nothing itself. Flips under GETs, POSTs and 2-second requests fail nothing, and a release is live
before its old slot is drained; a live slot killed between Berth's health checks fails only the
requests in flight on it, and the app comes back; an idle app sees only Berth's health checks."""

from __future__ import annotations

import subprocess
import time
from datetime import datetime
from typing import Any

import pytest
from berth_testing import (
    LoadGenerator,
    RunningPlatform,
    build_busybox_image,
    build_keepalive_image,
    build_long_request_image,
    wait_for,
)

pytestmark = pytest.mark.e2e

SLOW = "/cgi-bin/slow?2"  # answered after 2 s: in flight across every flip


def live(p: RunningPlatform, app: str, response: Any) -> dict[str, Any]:
    assert response.status_code in (200, 202), response.text
    release_id = p.api.get(f"/api/apps/{app}/releases").json()["items"][0]["id"]

    def done() -> dict[str, Any] | None:
        r = p.api.get(f"/api/apps/{app}/releases/{release_id}").json()
        assert r["status"] != "failed", r["reason"]
        return dict(r) if r["status"] == "live" else None

    return wait_for(done, timeout=120, interval=0.05, what=f"{app} release {release_id} live")


def at(step_or_release: dict[str, Any], field: str = "at") -> datetime:
    return datetime.fromisoformat(step_or_release[field].replace("Z", "+00:00"))


def step(p: RunningPlatform, app: str, release: dict[str, Any], name: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        steps = p.api.get(f"/api/apps/{app}/releases/{release['id']}").json()["steps"]
        return next((s for s in steps if s["step"] == name), None)

    return wait_for(found, timeout=60, what=f"{name} of {app}")


def test_flips_under_gets_posts_and_2_second_requests_fail_nothing_and_go_live_before_the_drain(
    platform: RunningPlatform,
) -> None:
    p = platform
    ka = {v: build_keepalive_image(f"berth-test/flip-ka:{v}", f"ka-{v}\n") for v in ("v1", "v2")}
    slow = {v: build_long_request_image(f"berth-test/flip-slow:{v}", f"slow-{v}\n") for v in ("v1", "v2")}
    for app, image in (("flip-ka", ka["v1"]), ("flip-slow", slow["v1"])):
        assert p.api.post("/api/apps", json={"name": app, "stopTimeoutSeconds": 10}).status_code == 201
        live(p, app, p.api.post(f"/api/apps/{app}/deploy", json={"image": image}))
    wait_for(lambda: p.proxy_get("flip-ka.berth.test").text == "ka-v1\n", what="ka v1 served")

    loads = [
        LoadGenerator(p.proxy_port, "flip-ka.berth.test", workers=2, max_seconds=300),
        LoadGenerator(p.proxy_port, "flip-ka.berth.test", workers=2, max_seconds=300, post=True),
        LoadGenerator(p.proxy_port, "flip-slow.berth.test", workers=2, max_seconds=300, path=SLOW),
        LoadGenerator(p.proxy_port, "flip-slow.berth.test", workers=1, max_seconds=300, path=SLOW, post=True),
    ]
    for load in loads:
        load.__enter__()
    try:
        wait_for(lambda: all(load.count() > 2 for load in loads), what="every kind of request flowing")
        flips = [
            ("deploy v2", {"flip-ka": ka["v2"], "flip-slow": slow["v2"]}, "ka-v2\n"),
            ("restart", None, "ka-v2\n"),
            ("deploy v1", {"flip-ka": ka["v1"], "flip-slow": slow["v1"]}, "ka-v1\n"),
        ]
        for what, images, expected in flips:
            releases = {}
            for app in ("flip-ka", "flip-slow"):
                if images is None:
                    response = p.api.post(f"/api/apps/{app}/restart")
                else:
                    response = p.api.post(f"/api/apps/{app}/deploy", json={"image": images[app]})
                releases[app] = live(p, app, response)
            since = time.monotonic()
            wait_for(
                lambda e=expected, t=since: loads[0].bodies_since(t) == {e}, what=f"only {expected!r} after {what}"
            )
            # Live once the proxy sends the new slot every request; the old slot is drained after.
            for app, release in releases.items():
                switched = step(p, app, release, "proxy.switched")
                drained = step(p, app, release, "old.drained")
                assert at(switched) <= at(release, "liveAt") <= at(drained), (what, app, switched, drained)
    finally:
        for load in loads:  # each client finishes the request it has in flight
            load.__exit__(None, None, None)
    failures = [s for load in loads for s in load.failures()]
    counts = [load.count() for load in loads]
    assert counts[0] > 200 and counts[1] > 200 and counts[2] + counts[3] >= 20, counts
    assert failures == [], f"{len(failures)} of {sum(counts)} requests failed, first: {failures[:3]}"


def test_a_live_slot_killed_between_checks_fails_only_its_requests_in_flight_and_the_app_recovers(
    platform: RunningPlatform,
) -> None:
    p = platform
    image = build_keepalive_image("berth-test/flip-ka:v1", "ka-v1\n")
    created = p.api.post("/api/apps", json={"name": "killed-slot", "stopTimeoutSeconds": 5})
    assert created.status_code == 201, created.text
    live(p, "killed-slot", p.api.post("/api/apps/killed-slot/deploy", json={"image": image}))
    (container,) = p.containers(created.json()["id"])
    workers = 2 + 2
    with (
        LoadGenerator(p.proxy_port, "killed-slot.berth.test", workers=2, max_seconds=120) as gets,
        LoadGenerator(p.proxy_port, "killed-slot.berth.test", workers=2, max_seconds=120, post=True) as posts,
    ):
        wait_for(lambda: gets.count() > 50 and posts.count() > 50, what="traffic flowing")
        subprocess.run(["docker", "kill", "--signal", "KILL", str(container["Id"])], check=True, capture_output=True)
        killed = time.monotonic()
        # The agent starts it again (crash backoff); the proxy's retries hold new requests meanwhile.
        wait_for(lambda: gets.bodies_since(killed + 0.5) == {"ka-v1\n"}, timeout=30, what="serving again")
        recovered = time.monotonic()
        wait_for(lambda: count_since(gets, recovered) > 50 and count_since(posts, recovered) > 50, what="steady again")
    failures = gets.failures() + posts.failures()
    # At most one request per client was in flight on the slot when it died.
    assert len(failures) <= workers, f"{len(failures)} failed: {failures[:5]}"
    assert all(s.at < killed for s in failures), failures
    after = [s for load in (gets, posts) for s in load.samples if s.at >= recovered]
    assert after and all(s.status == 200 for s in after)


def count_since(load: LoadGenerator, t: float) -> int:
    return len([s for s in list(load.samples) if s.at >= t])


def test_an_idle_apps_request_log_shows_only_berths_health_checks_at_its_interval(
    platform: RunningPlatform,
) -> None:
    p = platform
    image = build_busybox_image(
        "berth-test/web:verbose", "quiet\n", ["/bin/busybox", "httpd", "-f", "-v", "-p", "8080", "-h", "/www"]
    )
    check = {"path": "/", "intervalSeconds": 2}
    assert p.api.post("/api/apps", json={"name": "idle", "healthCheck": check}).status_code == 201
    live(p, "idle", p.api.post("/api/apps/idle/deploy", json={"image": image}))

    window = 20.0
    start = datetime.now().astimezone()  # the deploy gate's requests are behind us
    time.sleep(window)  # the observation window itself: nothing is waited for
    until = datetime.now().astimezone()

    def requests_logged() -> list[str] | None:
        """busybox ``httpd -v`` logs one ``<peer>: response:<status>`` line per request."""
        items = p.api.get("/api/apps/idle/logs", params={"stream": "stderr", "limit": 5000}).json()["items"]
        if not items or at(items[-1], "timestamp") < until:
            return None  # the window's last lines may still be on their way
        return [i["message"] for i in items if ": response:" in i["message"] and start <= at(i, "timestamp") <= until]

    lines = wait_for(requests_logged, timeout=30, what="the app's request log")
    expected = window / check["intervalSeconds"]
    # Berth's health service, every 2 s; the proxy's probes were 4 a second (2 servers x 2 slots).
    assert expected - 2 <= len(lines) <= expected + 2, lines
