"""The foundation slice, end to end: `berth up`, create an app, deploy a local image, reach it
through Caddy at its generated hostname, restart, survive a broken deploy and an agent crash,
and delete it without leaving anything behind."""

from __future__ import annotations

import os
import signal
import subprocess
from datetime import datetime
from typing import Any

import httpx
import pytest
from berth_testing import api_error, wait_for

pytestmark = pytest.mark.e2e


def create_app(p: Any, name: str, **extra: Any) -> dict[str, Any]:
    response = p.api.post("/api/apps", json={"name": name, **extra})
    assert response.status_code == 201, response.text
    return dict(response.json())


def deploy(p: Any, app: str, image: str) -> dict[str, Any]:
    response = p.api.post(f"/api/apps/{app}/deploy", json={"image": image})
    assert response.status_code == 202, response.text
    return dict(response.json())


def release(p: Any, app: str, release_id: str) -> dict[str, Any]:
    return dict(p.api.get(f"/api/apps/{app}/releases/{release_id}").json())


def wait_release(p: Any, app: str, release_id: str, status: str, timeout: float = 60) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        r = release(p, app, release_id)
        if r["status"] in ("live", "failed") and r["status"] != status:
            raise AssertionError(f"release ended {r['status']}: {r.get('reason')}")
        return r if r["status"] == status else None

    return wait_for(reached, timeout=timeout, what=f"release {release_id} {status}")


def body_at(p: Any, hostname: str) -> str:
    response = p.proxy_get(hostname)
    return response.text if response.status_code == 200 else f"<{response.status_code}>"


def test_health_endpoint_needs_no_token(platform: Any) -> None:
    response = httpx.get(f"{platform.base}/healthz")
    assert response.status_code == 200
    assert response.json()["ok"] is True


def test_deploy_serves_the_image_at_its_generated_hostname(platform: Any, test_images: dict[str, str]) -> None:
    app = create_app(platform, "hello")
    assert app["generatedHostname"] == "hello.berth.test"
    assert app["status"] == "created"
    assert app["lastDeployedAt"] is None

    rel = deploy(platform, "hello", test_images["v1"])
    assert rel["status"] == "pending"
    live = wait_release(platform, "hello", rel["id"], "live")
    steps = [s["step"] for s in live["steps"]]
    assert "health.passed" in steps and "container.started" in steps

    wait_for(lambda: body_at(platform, "hello.berth.test") == "v1\n", what="v1 through Caddy")
    shown = platform.api.get("/api/apps/hello").json()
    assert shown["status"] == "running"
    assert shown["lastDeployedAt"] is not None
    assert shown["image"] == test_images["v1"]
    assert shown["currentReleaseId"] == rel["id"]


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def test_a_deploys_command_reaches_the_agent_at_once_and_its_timeline_shows_each_hop(
    platform: Any, test_images: dict[str, str]
) -> None:
    create_app(platform, "hops")
    rel = deploy(platform, "hops", test_images["v1"])
    live = wait_release(platform, "hops", rel["id"], "live")
    steps = {s["step"]: at(s["at"]) for s in reversed(live["steps"])}  # the first of each
    accepted, published, received = at(live["createdAt"]), steps["command.published"], steps["command.received"]
    rollout = min(t for step, t in steps.items() if not step.startswith("command."))
    assert accepted <= published <= received <= rollout, steps
    # Pushed, not polled: the outbox polls every 5 s, a pull waits up to 1 s for its first message.
    assert (received - accepted).total_seconds() < 1.0, steps


def test_app_containers_are_hardened(platform: Any, test_images: dict[str, str]) -> None:
    app = create_app(platform, "hardened", resources={"memoryMb": 128, "cpus": 0.25})
    wait_release(platform, "hardened", deploy(platform, "hardened", test_images["v1"])["id"], "live")
    (container,) = platform.containers(app["id"])
    host = container["HostConfig"]
    assert host["Privileged"] is False
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in " ".join(host["SecurityOpt"] or [])
    assert host["Memory"] == 128 * 1024 * 1024
    assert host["NanoCpus"] == 250_000_000
    assert host["PidsLimit"] and host["PidsLimit"] > 0
    assert not host.get("Binds") and not container["Mounts"]
    assert not host.get("PortBindings")
    assert host["NetworkMode"] not in ("host", "default", "bridge")
    assert host["PidMode"] == "" and host["IpcMode"] in ("private", "")
    assert host["LogConfig"]["Config"].get("max-size")
    env = dict(item.split("=", 1) for item in container["Config"]["Env"])
    assert env["PORT"] == "8080"
    assert env["BERTH_APP"] == "hardened"
    assert "/var/run/docker.sock" not in str(container["Mounts"])


def test_restart_flips_to_a_fresh_container_and_keeps_serving(platform: Any, test_images: dict[str, str]) -> None:
    app = create_app(platform, "restarty")
    wait_release(platform, "restarty", deploy(platform, "restarty", test_images["v1"])["id"], "live")
    (before,) = platform.containers(app["id"])

    response = platform.api.post("/api/apps/restarty/restart")
    assert response.status_code == 202, response.text
    wait_release(platform, "restarty", response.json()["id"], "live")

    (after,) = wait_for(lambda: platform.containers(app["id"]) if len(platform.containers(app["id"])) == 1 else None)
    assert after["Id"] != before["Id"]
    assert after["Config"]["Labels"]["berth.slot"] != before["Config"]["Labels"]["berth.slot"]
    wait_for(lambda: body_at(platform, "restarty.berth.test") == "v1\n", what="served after restart")
    drained = next(
        s
        for s in platform.api.get(f"/api/apps/restarty/releases/{response.json()['id']}").json()["steps"]
        if s["step"] == "old.drained"
    )
    assert drained["durationMs"] < 5000, "the old slot should stop on SIGTERM, not wait for the kill timeout"


def test_broken_deploy_fails_with_a_reason_and_the_old_release_keeps_serving(
    platform: Any, test_images: dict[str, str]
) -> None:
    create_app(platform, "sturdy")
    good = deploy(platform, "sturdy", test_images["v1"])
    wait_release(platform, "sturdy", good["id"], "live")

    bad = deploy(platform, "sturdy", "berth-test/does-not-exist:nope")
    failed = wait_release(platform, "sturdy", bad["id"], "failed")
    assert "not found" in failed["reason"]
    assert body_at(platform, "sturdy.berth.test") == "v1\n"

    crash = deploy(platform, "sturdy", test_images["crash"])
    failed = wait_release(platform, "sturdy", crash["id"], "failed")
    assert "exited with code 3" in failed["reason"]
    assert body_at(platform, "sturdy.berth.test") == "v1\n"

    shown = platform.api.get("/api/apps/sturdy").json()
    assert shown["currentReleaseId"] == good["id"]
    assert shown["status"] == "running"


def test_agent_killed_mid_deploy_finishes_after_restart_without_duplicates(
    platform: Any, test_images: dict[str, str]
) -> None:
    app = create_app(platform, "phoenix")
    wait_release(platform, "phoenix", deploy(platform, "phoenix", test_images["v1"])["id"], "live")
    rel = deploy(platform, "phoenix", test_images["v2"])

    def started() -> bool:
        return any(c["Config"]["Labels"]["berth.release"] == rel["id"] for c in platform.containers(app["id"]))

    wait_for(started, timeout=30, interval=0.05, what="v2 container created")
    os.kill(platform.service_pid("berth_agent"), signal.SIGKILL)

    wait_release(platform, "phoenix", rel["id"], "live", timeout=90)
    containers = wait_for(
        lambda: platform.containers(app["id"]) if len(platform.containers(app["id"])) == 1 else None,
        what="exactly one container",
    )
    assert containers[0]["Config"]["Labels"]["berth.release"] == rel["id"]
    wait_for(lambda: body_at(platform, "phoenix.berth.test") == "v2\n", what="v2 served")


def test_delete_removes_containers_network_and_route(platform: Any, test_images: dict[str, str]) -> None:
    app = create_app(platform, "goner")
    wait_release(platform, "goner", deploy(platform, "goner", test_images["v1"])["id"], "live")
    wait_for(lambda: body_at(platform, "goner.berth.test") == "v1\n")

    assert platform.api.delete("/api/apps/goner").status_code == 202
    assert platform.api.get("/api/apps/goner").status_code == 404
    wait_for(lambda: not platform.containers(app["id"]), what="containers removed")
    wait_for(lambda: platform.proxy_get("goner.berth.test").status_code == 404, what="route removed")

    def network_gone() -> bool:
        out = subprocess.run(
            ["docker", "network", "ls", "--format", "{{.Name}}"], capture_output=True, text=True, check=True
        ).stdout
        return f"berth-{platform.instance}-{app['id'][:12]}" not in out

    wait_for(network_gone, what="network removed")
    # The name is free again.
    assert platform.api.post("/api/apps", json={"name": "goner"}).status_code == 201


def test_unknown_host_gets_berths_404_page_and_undeployed_app_a_503(platform: Any) -> None:
    response = platform.proxy_get("nobody.berth.test")
    assert response.status_code == 404
    assert "Berth" in response.text
    create_app(platform, "waiting")
    response = wait_for(lambda: r if (r := platform.proxy_get("waiting.berth.test")).status_code == 503 else None)
    assert "waiting" in response.text


def test_api_errors(platform: Any) -> None:
    base = platform.base
    api_error(httpx.get(f"{base}/api/apps"), 401, "unauthorized")
    api_error(httpx.get(f"{base}/api/apps", headers={"Authorization": "Bearer nope"}), 401, "unauthorized")

    assert "missing" in api_error(platform.api.get("/api/apps/missing"), 404, "not_found")["message"]
    api_error(platform.api.post("/api/apps/missing/deploy", json={"image": "x"}), 404, "not_found")

    create_app(platform, "taken")
    api_error(platform.api.post("/api/apps", json={"name": "taken"}), 409, "conflict")
    api_error(platform.api.put("/api/apps/taken"), 405, "method_not_allowed")

    for body, field in [
        ({"name": "Bad_Name"}, "name"),
        ({"name": "-lead"}, "name"),
        ({"name": "a" * 41}, "name"),
        ({"name": "okname", "port": 0}, "port"),
        ({"name": "okname", "port": 70000}, "port"),
        ({"port": 80}, "name"),
    ]:
        error = api_error(platform.api.post("/api/apps", json=body), 422, "validation_failed")
        assert field in [d["field"] for d in error["details"]], error

    missing_image = api_error(platform.api.post("/api/apps/taken/deploy", json={}), 422, "validation_failed")
    assert missing_image["details"][0]["field"] == "image"


def test_second_berth_up_on_the_same_home_refuses(platform: Any) -> None:
    result = subprocess.run([platform.proc.args[0], "up"], env=platform.env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "already running" in result.stderr


def test_the_platforms_own_hostname_serves_the_dashboard_and_api(platform: Any) -> None:
    assert platform.proxy_get("berth.test", "/healthz").status_code == 200
    page = platform.proxy_get("berth.test", "/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    api_error(platform.proxy_get("berth.test", "/api/apps"), 401, "unauthorized")
