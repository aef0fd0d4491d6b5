"""Health checks end to end, with real containers whose health is switched by a CGI script
(`/cgi-bin/sick`, `/cgi-bin/well`): detection within interval x threshold + timeout, recovery,
history and uptime, webhook alerts verified by a local receiver (127.0.0.1 only), automatic
restart after the unhealthy window, giving up after N restarts, and a hanging app that does
not delay another app's checks."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from berth_testing import RunningPlatform, formation_live, wait_for

pytestmark = pytest.mark.e2e


class Receiver:
    """A local webhook receiver on 127.0.0.1: answers 500 to the first ``fail_first`` posts."""

    def __init__(self, fail_first: int = 0) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(500 if len(receiver.posts) <= receiver.fail_first else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, secret: str, app_id: str) -> list[dict[str, Any]]:
        out = []
        for headers, body in list(self.posts):
            expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["x-berth-signature"], expected), "bad signature"
            data = json.loads(body)
            if data["app"]["id"] == app_id:
                out.append(data)
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def deploy_live(p: RunningPlatform, app: str, image: str) -> dict[str, Any]:
    rel = ok(p.api.post(f"/api/apps/{app}/deploy", json={"image": image}), 202)

    def live() -> bool:
        r = ok(p.api.get(f"/api/apps/{app}/releases/{rel['id']}"))
        assert r["status"] != "failed", r["reason"]
        return bool(r["status"] == "live")

    wait_for(live, timeout=90, what=f"{app} live")
    return dict(rel)


def container_url(p: RunningPlatform, app_id: str, path: str) -> str:
    (c,) = [c for c in p.containers(app_id) if c["State"]["Running"]]
    (net,) = c["NetworkSettings"]["Networks"].values()
    return f"http://{net['IPAddress']}:8080{path}"


def switch(p: RunningPlatform, app_id: str, to: str) -> None:
    """Make the live container sick or well again (straight to its bridge address: the proxy
    stops sending to a slot that fails Caddy's own active check)."""
    assert httpx.get(container_url(p, app_id, f"/cgi-bin/{to}"), timeout=5).status_code == 200


def health(p: RunningPlatform, app: str, **params: Any) -> dict[str, Any]:
    return dict(ok(p.api.get(f"/api/apps/{app}/health", params=params)))


def state_is(p: RunningPlatform, app: str, state: str) -> bool:
    return health(p, app)["state"] == state


@pytest.fixture(autouse=True)
def health_service_answers(platform: RunningPlatform) -> None:
    """`berth up` answers /healthz once the API is up; the health service may start a moment later."""
    wait_for(lambda: platform.api.get("/api/webhooks").status_code == 200, timeout=60, what="the health service")


CHECK = {
    "path": "/cgi-bin/health",
    "intervalSeconds": 1,
    "timeoutSeconds": 1,
    "unhealthyThreshold": 2,
    "healthyThreshold": 1,
    "startPeriodSeconds": 0,
    "restartAfterSeconds": 3600,
}


def test_invalid_checks_are_refused_naming_the_field(platform: RunningPlatform) -> None:
    error = ok(platform.api.post("/api/apps", json={"name": "hc-bad", "healthCheck": {"intervalSeconds": 0}}), 422)
    assert error["error"]["details"][0]["field"] == "healthCheck.intervalSeconds"
    ok(platform.api.post("/api/apps", json={"name": "hc-bad"}), 201)
    error = ok(platform.api.put("/api/apps/hc-bad/health", json={"path": "/x", "expectedStatus": "9xx"}), 422)
    assert error["error"]["details"][0]["field"] == "expectedStatus"
    error = ok(platform.api.post("/api/webhooks", json={"url": "gopher://x", "events": ["health.unhealthy"]}), 422)
    assert error["error"]["details"][0]["field"] == "url"
    shown = health(platform, "hc-bad")
    assert shown["config"] is None and shown["livenessOnly"] is True


def test_deleting_the_check_goes_back_to_the_default_liveness_rule(
    platform: RunningPlatform, test_images: dict[str, str]
) -> None:
    app = ok(platform.api.post("/api/apps", json={"name": "hc-unset", "healthCheck": CHECK}), 201)
    deploy_live(platform, "hc-unset", test_images["v1"])
    wait_for(lambda: state_is(platform, "hc-unset", "healthy"), timeout=60, what="healthy")
    switch(platform, app["id"], "sick")  # the configured path now answers 500; / still serves
    wait_for(lambda: state_is(platform, "hc-unset", "unhealthy"), timeout=60, what="unhealthy by the check")

    removed = ok(platform.api.delete("/api/apps/hc-unset/health"))
    assert removed == {"appId": app["id"], "config": None, "livenessOnly": True}
    shown = health(platform, "hc-unset")
    assert shown["config"] is None and shown["livenessOnly"] is True
    assert ok(platform.api.get("/api/apps/hc-unset"))["healthCheck"] is None
    # Checked by the deploy gate's rule again (GET / answers), so healthy and running, although
    # the old check's path still fails.
    wait_for(lambda: state_is(platform, "hc-unset", "healthy"), timeout=120, what="healthy by the default rule")
    wait_for(lambda: ok(platform.api.get("/api/apps/hc-unset"))["status"] == "running", timeout=60, what="running")
    assert httpx.get(container_url(platform, app["id"], "/cgi-bin/health"), timeout=5).status_code == 500
    kinds = [e["kind"] for e in ok(platform.api.get("/api/apps/hc-unset/events"))["items"]]
    assert "health.restart" not in kinds


def test_detection_recovery_history_and_signed_alerts(platform: RunningPlatform, test_images: dict[str, str]) -> None:
    receiver = Receiver(fail_first=1)
    try:
        hook = ok(
            platform.api.post(
                "/api/webhooks",
                json={"url": receiver.url, "events": ["health.unhealthy", "health.recovered", "deploy.succeeded"]},
            ),
            201,
        )
        secret = hook["secret"]
        assert secret and "secret" not in ok(platform.api.get("/api/webhooks"))["items"][0]

        app = ok(platform.api.post("/api/apps", json={"name": "hc-web", "healthCheck": CHECK}), 201)
        assert app["healthCheck"]["path"] == "/cgi-bin/health"
        deploy_live(platform, "hc-web", test_images["v1"])
        wait_for(lambda: state_is(platform, "hc-web", "healthy"), timeout=30, what="healthy")

        switch(platform, app["id"], "sick")
        # How soon (interval x unhealthyThreshold + timeout, plus the bus hops) is measured by
        # bench/health.py; here: it is detected, and from failing probes.
        wait_for(lambda: state_is(platform, "hc-web", "unhealthy"), timeout=60, what="unhealthy")
        shown = wait_for(
            lambda: (a := ok(platform.api.get("/api/apps/hc-web")))["status"] == "unhealthy" and a,
            timeout=10,
            what="app status unhealthy",
        )
        assert "HTTP 500" in shown["statusReason"]
        now = health(platform, "hc-web")
        assert now["lastCheck"]["ok"] is False and now["lastCheck"]["statusCode"] == 500

        # Many more failing probes, still one alert (the first delivery attempt got a 500 and is retried).
        first = health(platform, "hc-web")["lastCheck"]["id"]

        # The history keeps the failures with their status codes (check ids are shared by all
        # apps, so count this app's failed checks rather than doing arithmetic on ids).
        def failures() -> list[dict[str, Any]]:
            items = health(platform, "hc-web", limit=20)["history"]["items"]
            return [c for c in items if c["statusCode"] == 500 and not c["ok"] and c["id"] > first]

        wait_for(lambda: len(failures()) >= 3, what="three more failed probes in the history")
        alerts = wait_for(
            lambda: [e for e in receiver.events(secret, app["id"]) if e["event"] == "health.unhealthy"],
            timeout=30,
            what="the unhealthy alert",
        )
        assert alerts[0]["app"] == {"id": app["id"], "name": "hc-web"} and "HTTP 500" in alerts[0]["reason"]
        assert datetime.fromisoformat(alerts[0]["timestamp"])

        switch(platform, app["id"], "well")
        wait_for(lambda: state_is(platform, "hc-web", "healthy"), timeout=30, what="recovered")
        wait_for(lambda: ok(platform.api.get("/api/apps/hc-web"))["status"] == "running", timeout=10, what="running")
        recovered = wait_for(
            lambda: [e for e in receiver.events(secret, app["id"]) if e["event"] == "health.recovered"],
            timeout=30,
            what="the recovered alert",
        )
        assert recovered[0]["unhealthySeconds"] > 0
        unhealthy_alerts = [e for e in receiver.events(secret, app["id"]) if e["event"] == "health.unhealthy"]
        assert len(unhealthy_alerts) == 1

        # History: pages of checks, newest first, with failures and their status codes; uptime.
        page = health(platform, "hc-web", limit=3)
        assert len(page["history"]["items"]) == 3 and page["history"]["nextCursor"]
        older = health(platform, "hc-web", limit=100, cursor=page["history"]["nextCursor"])["history"]["items"]
        ids = [c["id"] for c in page["history"]["items"] + older]
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
        uptime = page["uptime"]
        assert 0 < uptime["1h"] < 1 and uptime["24h"] == uptime["1h"] == uptime["7d"]
        kinds = [e["kind"] for e in ok(platform.api.get("/api/apps/hc-web/events"))["items"]]
        assert "health.unhealthy" in kinds and "health.recovered" in kinds

        # Deliveries and their outcomes are visible, including the retried first one.
        deliveries = ok(platform.api.get(f"/api/webhooks/{hook['id']}/deliveries"))["items"]
        assert {d["event"] for d in deliveries} >= {"health.unhealthy", "health.recovered", "deploy.succeeded"}
        assert all(d["status"] == "delivered" for d in deliveries)
        assert max(d["attempts"] for d in deliveries) == 2
    finally:
        receiver.close()
        platform.api.delete(f"/api/webhooks/{hook['id']}")


def test_failing_and_timed_out_cron_runs_alert_cron_failed_once_each(
    platform: RunningPlatform, pyapp_images: dict[str, str]
) -> None:
    """ADR 0026 §4: the API's scheduler runs the jobs in the agent, a run that exits non-zero or
    passes its job's timeout_seconds ends as such, and the health service delivers one signed
    ``cron.failed`` per run with its outcome, exit code and last lines."""
    receiver = Receiver()
    try:
        hook = ok(platform.api.post("/api/webhooks", json={"url": receiver.url, "events": ["cron.failed"]}), 201)
        app = ok(platform.api.post("/api/apps", json={"name": "hc-cron"}), 201)
        deploy_live(platform, "hc-cron", pyapp_images["v1"])
        jobs = [
            {"name": "fails", "schedule": "@every 5s", "command": "python cronjob.py 0 --name fails --exit 3"},
            {
                "name": "slow",
                "schedule": "@every 5s",
                "command": "python cronjob.py 60 --name slow",
                "timeoutSeconds": 2,
            },
        ]
        formation_live(platform, "hc-cron", {"cron": jobs})

        def alerts() -> dict[str, list[dict[str, Any]]]:
            by_job: dict[str, list[dict[str, Any]]] = {}
            for e in receiver.events(hook["secret"], app["id"]):
                if e["event"] == "cron.failed":
                    by_job.setdefault(e["job"], []).append(e)
            return by_job if len(by_job.get("fails", [])) >= 2 and by_job.get("slow") else {}

        got = wait_for(alerts, timeout=120, interval=1, what="cron.failed of both jobs")
        fails, slow = got["fails"], got["slow"]
        assert all((e["outcome"], e["exitCode"]) == ("exited", 3) for e in fails), fails
        assert "cron end name=fails" in fails[0]["lastLines"][-1]
        assert slow[0]["outcome"] == "timed_out" and "cron start name=slow" in slow[0]["lastLines"][0]
        assert len({e["runId"] for e in fails}) == len(fails)  # one alert per run
        history = ok(platform.api.get("/api/apps/hc-cron/cron/fails/runs"))["items"]
        assert fails[0]["runId"] in {r["id"] for r in history if r["exitCode"] == 3}
    finally:
        platform.api.delete("/api/apps/hc-cron")
        receiver.close()


def test_a_scheduler_held_up_past_an_interval_alerts_cron_missed_and_catches_up(
    platform: RunningPlatform, pyapp_images: dict[str, str]
) -> None:
    """ADR 0026 §4: the API (and its scheduler) is frozen for more than two intervals of an
    ``@every 5s`` job with ``catch_up = true``; when it wakes, the due times it slept through are one
    ``missed`` entry, a ``cron.missed`` webhook names them, and one catch-up run is started."""
    receiver = Receiver()
    try:
        hook = ok(platform.api.post("/api/webhooks", json={"url": receiver.url, "events": ["cron.missed"]}), 201)
        app = ok(platform.api.post("/api/apps", json={"name": "hc-missed"}), 201)
        deploy_live(platform, "hc-missed", pyapp_images["v1"])
        # forbid (the default): the run before the freeze ended while the API was frozen; its end
        # waits in the bus and is applied before the scheduler's first pass back, so the
        # catch-up is not held back by a run that only seems to be going.
        job = {"name": "beat", "schedule": "@every 5s", "command": "python cronjob.py 0", "catchUp": True}
        formation_live(platform, "hc-missed", {"cron": [job]})
        wait_for(
            lambda: ok(platform.api.get("/api/apps/hc-missed/cron/beat/runs"))["items"],
            timeout=60,
            what="the job's first run",
        )
        api_pid = platform.service_pid("berth_api")
        os.kill(api_pid, signal.SIGSTOP)
        try:
            frozen = threading.Event()
            frozen.wait(13)  # the scheduler is away: due times pass with nobody to run them
        finally:
            os.kill(api_pid, signal.SIGCONT)

        def missed() -> list[dict[str, Any]]:
            return [e for e in receiver.events(hook["secret"], app["id"]) if e["event"] == "cron.missed"]

        [alert] = wait_for(missed, timeout=60, interval=0.5, what="the cron.missed webhook")
        assert alert["job"] == "beat" and alert["missed"] >= 2, alert
        assert datetime.fromisoformat(alert["firstDueAt"]) < datetime.fromisoformat(alert["lastDueAt"])
        history = ok(platform.api.get("/api/apps/hc-missed/cron/beat/runs"))["items"]
        [entry] = [r for r in history if r["status"] == "missed"]
        assert entry["missedCount"] == alert["missed"]
        caught_up = [r for r in history if r["id"] == alert["caughtUpRunId"]]
        assert caught_up and caught_up[0]["trigger"] == "catch_up", (alert, history)
    finally:
        platform.api.delete("/api/apps/hc-missed")
        receiver.close()


def test_an_app_unhealthy_past_its_window_is_restarted_by_a_flip(
    platform: RunningPlatform, test_images: dict[str, str]
) -> None:
    check = {**CHECK, "restartAfterSeconds": 3, "maxRestarts": 2, "startPeriodSeconds": 2}
    app = ok(platform.api.post("/api/apps", json={"name": "hc-restart", "healthCheck": check}), 201)
    first = deploy_live(platform, "hc-restart", test_images["v1"])
    wait_for(lambda: state_is(platform, "hc-restart", "healthy"), timeout=30, what="healthy")
    switch(platform, app["id"], "sick")

    def restart_release() -> dict[str, Any] | None:
        items = ok(platform.api.get("/api/apps/hc-restart/releases"))["items"]
        return next((r for r in items if r["kind"] == "restart" and r["status"] == "live"), None)

    restarted = wait_for(restart_release, timeout=60, what="an automatic restart to go live")
    assert restarted["id"] != first["id"]
    # The fresh container is healthy: the app recovers and runs again, after one restart.
    wait_for(lambda: state_is(platform, "hc-restart", "healthy"), timeout=30, what="healthy after restart")
    shown = wait_for(
        lambda: (a := ok(platform.api.get("/api/apps/hc-restart")))["status"] == "running" and a, what="running"
    )
    assert shown["currentReleaseId"] == restarted["id"]
    kinds = [e["kind"] for e in ok(platform.api.get("/api/apps/hc-restart/events"))["items"]]
    assert kinds.count("health.restart") == 1 and "health.recovered" in kinds


def test_after_max_restarts_the_app_stays_unhealthy_and_says_so(
    platform: RunningPlatform, test_images: dict[str, str]
) -> None:
    check = {**CHECK, "restartAfterSeconds": 2, "maxRestarts": 0}
    app = ok(platform.api.post("/api/apps", json={"name": "hc-giveup", "healthCheck": check}), 201)
    deploy_live(platform, "hc-giveup", test_images["v1"])
    wait_for(lambda: state_is(platform, "hc-giveup", "healthy"), timeout=30, what="healthy")
    switch(platform, app["id"], "sick")
    shown = wait_for(
        lambda: (
            (a := ok(platform.api.get("/api/apps/hc-giveup")))["status"] == "unhealthy"
            and "stopped restarting" in (a["statusReason"] or "")
            and a
        ),
        timeout=30,
        what="the app to give up",
    )
    assert "0 automatic restart" in shown["statusReason"]
    releases = ok(platform.api.get("/api/apps/hc-giveup/releases"))["items"]
    assert [r["kind"] for r in releases] == ["deploy"]


def test_a_hanging_app_does_not_delay_another_apps_checks(
    platform: RunningPlatform, test_images: dict[str, str]
) -> None:
    ok(platform.api.post("/api/apps", json={"name": "hc-steady", "healthCheck": CHECK}), 201)
    ok(platform.api.post("/api/apps", json={"name": "hc-hang"}), 201)
    deploy_live(platform, "hc-steady", test_images["v1"])
    deploy_live(platform, "hc-hang", test_images["v1"])
    # Set after the deploy (the deploy gate would wait on it too): a check that hangs for 30 s.
    ok(platform.api.put("/api/apps/hc-hang/health", json={**CHECK, "path": "/cgi-bin/slow?30", "timeoutSeconds": 3}))
    wait_for(lambda: state_is(platform, "hc-hang", "unhealthy"), timeout=60, what="the hanging app unhealthy")
    # While the hanging app's probe waited out its 3 s timeout, the steady app went on being
    # checked every second and stayed healthy (how evenly: bench/health.py measures the gaps).
    hung = health(platform, "hc-hang")["lastCheck"]
    assert hung["error"] == "timed out after 3s" and hung["latencyMs"] >= 3000
    ended = datetime.fromisoformat(hung["timestamp"])
    began = ended - timedelta(milliseconds=hung["latencyMs"])

    def steady_checks_since_it_ended() -> list[dict[str, Any]]:
        items = health(platform, "hc-steady", limit=30)["history"]["items"]
        return [c for c in items if datetime.fromisoformat(c["timestamp"]) > ended]

    wait_for(steady_checks_since_it_ended, timeout=60, what="a check of the steady app after the timeout")
    steady = health(platform, "hc-steady", limit=30)["history"]["items"]
    during = [c for c in steady if began <= datetime.fromisoformat(c["timestamp"]) <= ended]
    assert len(during) >= 2, steady
    assert all(c["ok"] for c in steady)
    assert health(platform, "hc-steady")["state"] == "healthy"
