"""The platform's own hostname through the proxy, as an outsider and as an app sees it: bad
input that would reach Caddy is refused at the API, app containers are refused on the platform
hostname (while other apps' hostnames stay reachable), the API docs are never served there,
bodies are capped, and BERTH_PUBLIC_DASHBOARD=false closes it. A public platform hostname
(HTTPS only, HSTS) is tested with a real ACME flow in test_acme.py."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from berth_testing import RunningPlatform, deploy_live, start_platform, stop_platform, wait_for

pytestmark = pytest.mark.e2e

PLATFORM_HOST = "berth.test"


def fetch_from(container: dict[str, Any], url: str, host: str) -> str:
    """wget inside the app's container; busybox prints "server returned error: HTTP/1.1 403" on failure.
    (Its own ``-T`` timeout makes Debian's static busybox wget crash with SIGSEGV: ``timeout`` instead.)"""
    done = subprocess.run(
        ["docker", "exec", container["Id"], "timeout", "10", "wget", "-q", "-O", "-", "--header", f"Host: {host}", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout if done.returncode == 0 else f"<failed: {done.stderr.strip()}>"


@pytest.fixture(scope="module")
def two_apps(platform: RunningPlatform, test_images: dict[str, str]) -> Iterator[dict[str, dict[str, Any]]]:
    apps = {"inside": deploy_live(platform, "inside", test_images["v1"])}
    apps["neighbour"] = deploy_live(platform, "neighbour", test_images["v2"])
    try:
        yield apps
    finally:
        for name in apps:
            platform.api.delete(f"/api/apps/{name}")


def test_a_health_path_caddy_would_refuse_is_a_422_naming_the_field(platform: RunningPlatform) -> None:
    created = platform.api.post("/api/apps", json={"name": "badpath", "healthCheck": {"path": "/%zz"}})
    assert created.status_code == 422, created.text
    assert created.json()["error"]["details"][0]["field"] == "healthCheck.path"
    assert platform.api.post("/api/apps", json={"name": "badpath"}).status_code == 201
    try:
        changed = platform.api.put("/api/apps/badpath/health", json={"path": "/ok%2"})
        assert changed.status_code == 422, changed.text
        assert changed.json()["error"]["details"][0]["field"] == "path"
    finally:
        platform.api.delete("/api/apps/badpath")


def test_an_app_container_is_refused_on_the_platform_hostname_but_reaches_other_apps(
    platform: RunningPlatform, two_apps: dict[str, dict[str, Any]]
) -> None:
    inside = two_apps["inside"]
    (network,) = inside["NetworkSettings"]["Networks"].values()
    proxy = f"http://{network['Gateway']}:{platform.proxy_port}"
    # From the host the platform hostname serves the API...
    assert platform.proxy_get(PLATFORM_HOST, "/api/apps").status_code == 401
    # ...but not to an app: the proxy refuses its network, whatever it claims in its headers.
    refused = fetch_from(inside, f"{proxy}/api/apps", PLATFORM_HOST)
    assert "403" in refused, refused
    assert "403" in fetch_from(inside, f"{proxy}/", PLATFORM_HOST)
    # Another app's public hostname through the same proxy port still answers.
    assert fetch_from(inside, f"{proxy}/", "neighbour.berth.test") == "v2\n"


def test_the_api_docs_are_not_served_on_the_platform_hostname(platform: RunningPlatform) -> None:
    assert platform.proxy_get(PLATFORM_HOST, "/api/docs").status_code == 404
    assert platform.proxy_get(PLATFORM_HOST, "/api/docs/oauth2-redirect").status_code == 404


def test_bodies_over_one_mib_are_refused_on_the_platform_hostname(platform: RunningPlatform) -> None:
    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    response = httpx.post(
        f"http://127.0.0.1:{platform.proxy_port}/api/apps",
        content=big,
        headers={
            "Host": PLATFORM_HOST,
            "Authorization": f"Bearer {platform.token}",
            "Content-Type": "application/json",
        },
        timeout=30,
    )
    assert response.status_code == 413, response.text
    # A small body passes the same route.
    small = httpx.get(
        f"http://127.0.0.1:{platform.proxy_port}/api/apps",
        headers={"Host": PLATFORM_HOST, "Authorization": f"Bearer {platform.token}"},
        timeout=30,
    )
    assert small.status_code == 200


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    p = start_platform(tmp_path_factory.mktemp("berth-closed"), BERTH_PUBLIC_DASHBOARD="false")
    try:
        yield p
    finally:
        stop_platform(p)


def test_with_the_public_dashboard_off_the_platform_hostname_serves_neither_dashboard_nor_api(
    closed: RunningPlatform,
) -> None:
    def closed_there() -> httpx.Response | None:
        response = closed.proxy_get(PLATFORM_HOST, "/api/apps")
        return response if response.status_code == 404 else None

    response = wait_for(closed_there, what="the router's config with the dashboard off")
    assert "not served" in response.text
    assert closed.proxy_get(PLATFORM_HOST, "/").status_code == 404
    # The loopback API port keeps working for the admin on the machine.
    assert closed.api.get("/api/apps").status_code == 200
