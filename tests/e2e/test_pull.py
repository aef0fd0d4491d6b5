"""A pullable image: deployed from a registry (Debian's docker-registry on 127.0.0.1, the one
kind of registry that can exist here), with the pull's progress in the release's lifecycle."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from berth_testing import RunningPlatform, wait_for
from local_registry import local_registry

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with local_registry(tmp_path_factory.mktemp("registry")) as address:
        yield address


def test_an_image_is_pulled_with_progress_in_the_lifecycle(
    platform: RunningPlatform, test_images: dict[str, str], registry: str, tmp_path: Path
) -> None:
    p = platform
    remote = f"{registry}/berth-test/pulled:v1"
    subprocess.run(["docker", "tag", test_images["v1"], remote], check=True, capture_output=True)
    subprocess.run(["docker", "push", remote], check=True, capture_output=True)
    subprocess.run(["docker", "rmi", remote], check=True, capture_output=True)  # only the registry has it now

    assert p.api.post("/api/apps", json={"name": "pulled"}).status_code == 201
    rel = p.api.post("/api/apps/pulled/deploy", json={"image": remote}).json()
    live = wait_for(
        lambda: r if (r := p.api.get(f"/api/apps/pulled/releases/{rel['id']}").json())["status"] == "live" else None,
        timeout=90,
        what="the pulled release live",
    )
    pulling = [s for s in live["steps"] if s["step"] == "image.pulling"]
    assert pulling and pulling[0]["detail"].startswith(f"pulling {remote}: ")
    assert "layers" in pulling[-1]["detail"]
    wait_for(lambda: p.proxy_get("pulled.berth.test").text == "v1\n", what="served")
