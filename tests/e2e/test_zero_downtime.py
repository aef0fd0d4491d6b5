"""Zero-downtime releases under continuous traffic through Caddy: deploys, restarts,
configuration and env changes and rollbacks never fail a request; a broken deploy never interrupts
the live release; a crash-looping app ends `crashed` with its backoff in the history."""

from __future__ import annotations

import time
from typing import Any

import pytest
from berth_testing import LoadGenerator, RunningPlatform, build_keepalive_image, wait_for

pytestmark = pytest.mark.e2e


def wait_live(p: RunningPlatform, app: str, release: dict[str, Any], timeout: float = 90) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        r = p.api.get(f"/api/apps/{app}/releases/{release['id']}").json()
        if r["status"] == "failed":
            raise AssertionError(f"release failed: {r['reason']}")
        return r if r["status"] == "live" else None

    return wait_for(done, timeout=timeout, what=f"release {release['id']} live")


def accepted(response: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    return dict(response.json())


def test_flips_under_load_drop_no_request(platform: RunningPlatform, test_images: dict[str, str]) -> None:
    p = platform
    assert p.api.post("/api/apps", json={"name": "steady-load", "stopTimeoutSeconds": 5}).status_code == 201
    wait_live(p, "steady-load", accepted(p.api.post("/api/apps/steady-load/deploy", json={"image": test_images["v1"]})))
    wait_for(lambda: p.proxy_get("steady-load.berth.test").text == "v1\n", what="v1 served")

    with LoadGenerator(p.proxy_port, "steady-load.berth.test", workers=4, max_seconds=240) as load:
        wait_for(lambda: load.count() > 50, what="traffic flowing")
        base = "/api/apps/steady-load"
        v2 = {"image": test_images["v2"]}
        flips = [
            ("deploy v2", lambda: p.api.post(f"{base}/deploy", json=v2), "v2\n"),
            ("restart", lambda: p.api.post(f"{base}/restart"), "v2\n"),
            ("config change", lambda: p.api.patch(base, json={"resources": {"memoryMb": 192}}), "v2\n"),
            ("env change", lambda: p.api.post(f"{base}/env", json={"vars": {"GREETING": "hi"}}), "v2\n"),
            ("rollback", lambda: p.api.post(f"{base}/rollback"), "v1\n"),
            ("deploy v2 again", lambda: p.api.post(f"{base}/deploy", json=v2), "v2\n"),
        ]
        for what, request, expected in flips:
            response = request()
            assert response.status_code in (200, 202), (what, response.text)
            newest = p.api.get("/api/apps/steady-load/releases").json()["items"][0]
            wait_live(p, "steady-load", newest)
            started = time.monotonic()
            wait_for(lambda e=expected, t=started: load.bodies_since(t) == {e}, what=f"only {expected!r} after {what}")
        total = load.count()
    failures = load.failures()
    assert total > 500
    assert failures == [], f"{len(failures)} of {total} requests failed, first: {failures[:3]}"
    kinds = [r["kind"] for r in p.api.get("/api/apps/steady-load/releases").json()["items"]]
    assert kinds[:6] == ["deploy", "rollback", "config", "config", "restart", "deploy"]
    assert p.api.get("/api/apps/steady-load").json()["resources"]["memoryMb"] == 192


def test_broken_deploy_under_load_never_interrupts_the_live_release(
    platform: RunningPlatform, test_images: dict[str, str]
) -> None:
    p = platform
    assert p.api.post("/api/apps", json={"name": "unbroken", "deployTimeoutSeconds": 5}).status_code == 201
    wait_live(p, "unbroken", accepted(p.api.post("/api/apps/unbroken/deploy", json={"image": test_images["v1"]})))
    wait_for(lambda: p.proxy_get("unbroken.berth.test").text == "v1\n")

    with LoadGenerator(p.proxy_port, "unbroken.berth.test", workers=4, max_seconds=120) as load:
        wait_for(lambda: load.count() > 50, what="traffic flowing")
        for image in (test_images["deaf"], test_images["crash"], "berth-test/missing:none"):
            bad = accepted(p.api.post("/api/apps/unbroken/deploy", json={"image": image}))
            wait_for(
                lambda b=bad: p.api.get(f"/api/apps/unbroken/releases/{b['id']}").json()["status"] == "failed",
                timeout=60,
                what=f"{image} failed",
            )
        total = load.count()
    assert load.failures() == [], load.failures()[:3]
    assert total > 100
    assert {s.body for s in load.samples} == {"v1\n"}


def test_hard_restart_restarts_in_place(platform: RunningPlatform, test_images: dict[str, str]) -> None:
    p = platform
    app = p.api.post("/api/apps", json={"name": "inplace"}).json()
    live = wait_live(p, "inplace", accepted(p.api.post("/api/apps/inplace/deploy", json={"image": test_images["v1"]})))
    (before,) = p.containers(app["id"])
    restarted = accepted(p.api.post("/api/apps/inplace/restart?hard=true"))
    assert restarted["id"] == live["id"]

    def restarted_step() -> bool:
        steps = p.api.get(f"/api/apps/inplace/releases/{live['id']}").json()["steps"]
        return any(s["step"] == "container.restarted" for s in steps)

    wait_for(restarted_step, timeout=60, what="container.restarted step")
    (after,) = p.containers(app["id"])
    assert after["Id"] == before["Id"]
    assert after["State"]["StartedAt"] != before["State"]["StartedAt"]
    wait_for(lambda: p.proxy_get("inplace.berth.test").text == "v1\n", what="serving after hard restart")
    assert len(p.api.get("/api/apps/inplace/releases").json()["items"]) == 1


def test_crash_loop_ends_crashed_with_backoff_in_history(
    platform: RunningPlatform, test_images: dict[str, str]
) -> None:
    p = platform
    assert p.api.post("/api/apps", json={"name": "crashy"}).status_code == 201
    accepted(p.api.post("/api/apps/crashy/deploy", json={"image": test_images["flaky"]}))
    app = wait_for(
        lambda: a if (a := p.api.get("/api/apps/crashy").json())["status"] == "crashed" else None,
        timeout=150,
        what="crashy crashed",
    )
    assert "code 3" in app["statusReason"]
    history = p.api.get("/api/apps/crashy/events").json()["items"]
    starts = [e["at"] for e in history if e["kind"] == "container.started"]
    exits = [e for e in history if e["kind"] == "container.exited" and not e["detail"]["expected"]]
    assert len(exits) >= 5 and all(e["detail"]["exitCode"] == 3 for e in exits)
    assert history[-1]["kind"] == "app.crashed"
    gaps = [_seconds(b) - _seconds(a) for a, b in zip(_exit_times(history), starts[1:], strict=False)]
    assert gaps == sorted(gaps), f"restart delays should grow: {gaps}"
    assert gaps[-1] >= 4 * max(gaps[0], 0.5), gaps


def _exit_times(history: list[dict[str, Any]]) -> list[str]:
    return [e["at"] for e in history if e["kind"] == "container.exited"]


def _seconds(ts: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def test_flips_drop_no_request_to_an_app_that_keeps_connections_alive(platform: RunningPlatform) -> None:
    """Most real app servers keep connections alive, so the proxy holds idle connections to the
    old slot; POSTs (which no proxy retries on its own) must still never fail during a flip."""
    p = platform
    v1 = build_keepalive_image("berth-test/keepalive:v1", "ka-v1\n")
    v2 = build_keepalive_image("berth-test/keepalive:v2", "ka-v2\n")
    assert p.api.post("/api/apps", json={"name": "keepalive", "stopTimeoutSeconds": 5}).status_code == 201
    wait_live(p, "keepalive", accepted(p.api.post("/api/apps/keepalive/deploy", json={"image": v1})))
    wait_for(lambda: p.proxy_get("keepalive.berth.test").text == "ka-v1\n", what="v1 served")

    with LoadGenerator(p.proxy_port, "keepalive.berth.test", workers=4, max_seconds=240, post=True) as load:
        wait_for(lambda: load.count() > 50, what="traffic flowing")
        for image, expected in [(v2, "ka-v2\n"), (None, "ka-v2\n"), (v1, "ka-v1\n"), (None, "ka-v1\n")]:
            request = (
                p.api.post("/api/apps/keepalive/deploy", json={"image": image})
                if image
                else p.api.post("/api/apps/keepalive/restart")
            )
            assert request.status_code == 202, request.text
            wait_live(p, "keepalive", p.api.get("/api/apps/keepalive/releases").json()["items"][0])
            started = time.monotonic()
            wait_for(lambda e=expected, t=started: load.bodies_since(t) == {e}, what=f"only {expected!r}")
        total = load.count()
    failures = load.failures()
    assert total > 500
    assert failures == [], f"{len(failures)} of {total} requests failed, first: {failures[:3]}"
