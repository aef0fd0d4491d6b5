"""The rough edges a new user hits, end to end: the app reads `running` from when the proxy
serves it, an app without a health check is still checked, Berth's probes name themselves and
stay out of the log view, the create form knows the domain, and a second `berth up` on taken
ports says which port, which setting and who holds it."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from berth_testing import BERTH, RunningPlatform, build_access_log_image, isolated_subnet_pool, wait_for

pytestmark = pytest.mark.e2e

USER_AGENT = "rough-edges-user/1.0"


@pytest.fixture(scope="module")
def access_log_image() -> str:
    return build_access_log_image("berth-test/access-log:v1")


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def deploy_live(p: RunningPlatform, app: str, image: str) -> dict[str, Any]:
    rel = ok(p.api.post(f"/api/apps/{app}/deploy", json={"image": image}), 202)

    def live() -> dict[str, Any] | None:
        r = ok(p.api.get(f"/api/apps/{app}/releases/{rel['id']}"))
        assert r["status"] != "failed", r["reason"]
        return r if r["status"] == "live" else None

    return wait_for(live, timeout=120, what=f"{app} live")


def test_a_new_app_reads_running_from_the_moment_the_proxy_serves_it(
    platform: RunningPlatform, test_images: dict[str, str]
) -> None:
    app = ok(platform.api.post("/api/apps", json={"name": "edge-first"}), 201)
    served: list[float] = []

    def browse() -> None:  # a browser reloading the page until the app answers
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not served:
            try:
                if platform.proxy_get(app["generatedHostname"], timeout=10).status_code == 200:
                    served.append(time.time())
            except httpx.HTTPError:
                pass
            time.sleep(0.05)  # a reload every 50 ms

    browser = threading.Thread(target=browse)
    browser.start()
    release = ok(platform.api.post("/api/apps/edge-first/deploy", json={"image": test_images["v1"]}), 202)
    browser.join()
    assert served, "the proxy never served the app"
    shown = wait_for(
        lambda: (a := ok(platform.api.get("/api/apps/edge-first")))["status"] == "running" and a,
        timeout=60,
        what="the app to read running",
    )
    live = deploy_live_wait(platform, "edge-first", release["id"])
    steps = {s["step"]: s for s in live["steps"]}
    # Deployed when it began to serve (its first health pass, after which the proxy routes to
    # it), not when the agent, after waiting out the proxy's check interval, called it live.
    assert shown["lastDeployedAt"] is not None
    assert when(shown["lastDeployedAt"]) == when(steps["health.passed"]["at"])
    assert when(shown["lastDeployedAt"]) < when(live["liveAt"])
    assert ok(platform.api.get("/api/apps/edge-first"))["lastDeployedAt"] == shown["lastDeployedAt"]


def deploy_live_wait(p: RunningPlatform, app: str, release_id: str) -> dict[str, Any]:
    def live() -> dict[str, Any] | None:
        r = ok(p.api.get(f"/api/apps/{app}/releases/{release_id}"))
        return r if r["status"] == "live" else None

    return wait_for(live, timeout=120, what=f"{app} live")


def test_an_app_without_a_health_check_is_checked_over_http_and_reads_healthy_then_unhealthy(
    platform: RunningPlatform, test_images: dict[str, str]
) -> None:
    wait_for(lambda: platform.api.get("/api/webhooks").status_code == 200, timeout=60, what="the health service")
    app = ok(platform.api.post("/api/apps", json={"name": "edge-nocheck"}), 201)
    deploy_live(platform, "edge-nocheck", test_images["v1"])

    def health() -> dict[str, Any]:
        return dict(ok(platform.api.get("/api/apps/edge-nocheck/health")))

    def checked(state: str) -> dict[str, Any] | None:
        h = health()  # a check's row is written a moment after the state it decided
        return h if h["state"] == state and h["lastCheck"] is not None else None

    healthy = wait_for(lambda: checked("healthy"), timeout=90, what="healthy")
    assert healthy["config"] is None and healthy["livenessOnly"] is True
    assert healthy["lastCheck"] is not None and healthy["lastCheck"]["statusCode"] == 200
    # The app stops answering / with 2xx/3xx (its page is gone): the checks say so.
    (container,) = [c for c in platform.containers(app["id"]) if c["State"]["Running"]]
    subprocess.run(["docker", "exec", str(container["Id"]), "rm", "/www/index.html"], check=True)
    sick = wait_for(lambda: checked("unhealthy"), timeout=120, what="unhealthy")
    assert "GET /" in sick["reason"] and sick["lastCheck"]["ok"] is False
    wait_for(
        lambda: ok(platform.api.get("/api/apps/edge-nocheck"))["status"] == "unhealthy",
        timeout=60,
        what="the app's status to follow",
    )


def test_berths_probes_name_themselves_and_stay_out_of_the_log_view(
    platform: RunningPlatform, access_log_image: str
) -> None:
    check = {"path": "/", "intervalSeconds": 1, "startPeriodSeconds": 0}
    app = ok(platform.api.post("/api/apps", json={"name": "edge-probes", "healthCheck": check}), 201)
    deploy_live(platform, "edge-probes", access_log_image)
    for _ in range(3):
        answer = httpx.get(
            f"http://127.0.0.1:{platform.proxy_port}/",
            headers={"Host": app["generatedHostname"], "User-Agent": USER_AGENT},
            timeout=10,
        )
        assert answer.status_code == 200

    def messages(**params: Any) -> list[str]:
        page = ok(platform.api.get("/api/apps/edge-probes/logs", params={"limit": 5000, **params}))
        return [i["message"] for i in page["items"]]

    def user_and_probes() -> list[str] | None:
        m = messages(probes="true")
        return m if sum(USER_AGENT in x for x in m) >= 3 and len(m) >= 10 else None

    everything = wait_for(user_and_probes, timeout=60, what="the user's requests and some probes in the log")
    # Every request the app logged is the user's or names itself as one of Berth's probes
    # (the deploy gate, the health service, both of Caddy's servers): none is anonymous.
    probes = [m for m in everything if "Berth-Health/" in m]
    assert len(probes) >= 5
    assert [m for m in everything if USER_AGENT not in m and "Berth-Health/" not in m] == []
    assert not any("Go-http-client" in m or "aiohttp" in m or "berth-health/1" in m for m in everything)
    # The log view shows what the user did, without the probes; the follow stream too.
    shown = messages()
    assert shown and all(USER_AGENT in m for m in shown) and len(shown) >= 3
    with httpx.stream(
        "GET",
        f"{platform.base}/api/apps/edge-probes/logs",
        params={"follow": "1", "limit": 50},
        headers={"Authorization": f"Bearer {platform.token}"},
        timeout=30,
    ) as stream:
        followed: list[str] = []
        for line in stream.iter_lines():
            if line.startswith("data: "):
                followed.append(json.loads(line[6:])["message"])
            if len(followed) >= 3:
                break
    assert all(USER_AGENT in m for m in followed)


def test_the_create_form_can_name_the_real_domain(platform: RunningPlatform) -> None:
    session = ok(platform.api.get("/api/session"))
    assert session["signedIn"] is True and session["domain"] == "berth.test"
    assert ok(httpx.get(f"{platform.base}/api/session", timeout=10))["domain"] is None  # not to strangers
    page = httpx.get(f"{platform.base}/", timeout=10).text
    scripts = [s.split('"')[0] for s in page.split('src="')[1:]]
    bundle = "".join(httpx.get(f"{platform.base}{s}", timeout=10).text for s in scripts if s.endswith(".js"))
    assert bundle and "your-domain" not in bundle


def test_a_second_instance_on_taken_ports_names_the_port_the_setting_and_the_holder(
    platform: RunningPlatform, tmp_path: Path
) -> None:
    env = {**platform.env, "BERTH_HOME": str(tmp_path / "second"), "BERTH_SUBNET_POOL": isolated_subnet_pool()}
    second = subprocess.run([BERTH, "up"], env=env, capture_output=True, text=True, timeout=120)
    out = second.stdout + second.stderr
    assert second.returncode != 0, out
    assert "exited with code" not in out
    postgres_pid = postgres_holder(platform)
    for setting in ("BERTH_PG_PORT", "BERTH_NATS_PORT", "BERTH_API_PORT", "BERTH_HTTP_PORT", "BERTH_HTTPS_PORT"):
        port = env[setting]
        assert f"port {port} ({setting}:" in out and f"set {setting} to a free port" in out, out
    assert f"held by pid {postgres_pid} (" in out, out
    # Nothing of the second instance was started: the first one still answers.
    assert platform.api.get("/healthz").status_code == 200
    assert not (tmp_path / "second" / "postgres" / "data" / "postmaster.pid").exists()


def postgres_holder(p: RunningPlatform) -> int:
    pid_file = next(p.home.glob("**/postmaster.pid"))
    return int(pid_file.read_text().splitlines()[0])
