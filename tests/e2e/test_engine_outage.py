"""Docker engine unreachable: the API answers 503 with a clear message, changes nothing, and
work accepted meanwhile resumes when the engine is back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from berth_testing import DockerSocketProxy, RunningPlatform, api_error, start_platform, stop_platform, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def outage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningPlatform, DockerSocketProxy]]:
    home = tmp_path_factory.mktemp("berth-outage")
    proxy = DockerSocketProxy(home / "docker.sock")
    proxy.start()
    platform = start_platform(home, DOCKER_HOST=proxy.docker_host)
    try:
        yield platform, proxy
    finally:
        proxy.cut()
        proxy.start()
        stop_platform(platform)
        proxy.cut()


def test_engine_outage(outage: tuple[RunningPlatform, DockerSocketProxy], test_images: dict[str, str]) -> None:
    p, proxy = outage
    for name in ("steady", "doomed"):
        assert p.api.post("/api/apps", json={"name": name}).status_code == 201
        rel = p.api.post(f"/api/apps/{name}/deploy", json={"image": test_images["v1"]}).json()
        wait_for(
            lambda n=name, r=rel["id"]: p.api.get(f"/api/apps/{n}/releases/{r}").json()["status"] == "live",
            timeout=60,
        )
    doomed_id = p.api.get("/api/apps/doomed").json()["id"]

    proxy.cut()
    refused = p.api.post("/api/apps/steady/deploy", json={"image": test_images["v2"]})
    assert refused.status_code == 503, refused.text
    error = refused.json()["error"]
    assert error["code"] == "engine_unavailable"
    assert "Docker engine" in error["message"] and "nothing was changed" in error["message"]
    assert len(p.api.get("/api/apps/steady/releases").json()["items"]) == 1
    api_error(p.api.post("/api/apps/steady/restart"), 503, "engine_unavailable")

    # Running apps keep serving; a delete is accepted and waits for the engine.
    assert p.proxy_get("steady.berth.test").text == "v1\n"
    assert p.api.delete("/api/apps/doomed").status_code == 202

    proxy.start()
    wait_for(lambda: not p.containers(doomed_id), timeout=60, what="deleted app cleaned up after the outage")
    accepted = p.api.post("/api/apps/steady/deploy", json={"image": test_images["v2"]})
    assert accepted.status_code == 202
    wait_for(lambda: p.proxy_get("steady.berth.test").text == "v2\n", timeout=60, what="deploy after the outage")
