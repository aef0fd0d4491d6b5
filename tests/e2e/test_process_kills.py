"""``kill -9`` of every platform process — api, runtime-agent, router, logs, health, nats,
postgres, caddy — each in the middle of a deploy, under continuous requests through the proxy.

Every deploy still goes live, and no request fails except while Caddy itself restarts (its
listening socket is gone until `berth up` has started it again; Caddy comes back with the
router's last config, ``--resume``). That window is measured here and reported by
``bench/recovery.py``; the test asserts that failures happen in it and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from berth_testing import RunningPlatform, start_platform, stop_platform, wait_for
from process_kills import PROCESSES, run_kills

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def kills_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    p = start_platform(tmp_path_factory.mktemp("berth-kills"))
    try:
        yield p
    finally:
        stop_platform(p)


def test_kill_9_of_every_process_mid_deploy_under_load(
    kills_platform: RunningPlatform, test_images: dict[str, str], record_property: pytest.RecordProperty
) -> None:
    p = kills_platform
    images = (test_images["v1"], test_images["v2"])
    assert p.api.post("/api/apps", json={"name": "kl-web"}).status_code == 201
    first = p.api.post("/api/apps/kl-web/deploy", json={"image": images[0]}).json()["id"]
    wait_for(lambda: p.api.get(f"/api/apps/kl-web/releases/{first}").json()["status"] == "live", timeout=120)
    wait_for(lambda: p.proxy_get("kl-web.berth.test").text == "v1\n", timeout=30, what="kl-web serving")

    run = run_kills(p, "kl-web", images)

    assert [k.process for k in run.kills] == list(PROCESSES)
    for kill in run.kills:
        assert kill.release_status == "live", (kill.process, kill.release_status)
    last = run.kills[-1]
    expected = "v1\n" if len(run.kills) % 2 == 0 else "v2\n"
    wait_for(lambda: p.proxy_get("kl-web.berth.test").text == expected, timeout=30, what="the last deploy serving")
    assert p.api.get("/api/apps/kl-web").json()["currentReleaseId"] == last.release_id

    start, end = run.window_of("caddy")
    caddy_failures = [s for s in run.failures() if s not in run.failures_outside("caddy")]
    record_property("requests", len(run.samples))
    record_property("caddy_failed_requests", len(caddy_failures))
    record_property("caddy_window_seconds", round(end - start, 3))
    assert len(run.samples) > 1000  # the load really ran through every kill
    outside = run.failures_outside("caddy")
    assert outside == [], (run.describe(outside[:10]), f"caddy window {end - start:.3f}s")
