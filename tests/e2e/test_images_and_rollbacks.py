"""Images and rollbacks: Berth keeps every rollback target it offers, prunes only the images it
pulled or built (never a user's own), prunes a deleted app's images, and a rollback to an
image that is gone fails at once saying how to bring it back."""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from berth_testing import RunningPlatform, build_busybox_image, wait_for
from local_registry import image_id, local_registry, registry_only_image

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with local_registry(tmp_path_factory.mktemp("registry")) as address:
        yield address


def live(p: RunningPlatform, app: str, release: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        now = p.api.get(f"/api/apps/{app}/releases/{release['id']}").json()
        assert now["status"] != "failed", now
        return now if now["status"] == "live" else None

    return wait_for(done, timeout=timeout, what=f"{app} v{release['version']} live")


def deploy(p: RunningPlatform, app: str, image: str) -> dict[str, Any]:
    response = p.api.post(f"/api/apps/{app}/deploy", json={"image": image})
    assert response.status_code == 202, response.text
    return live(p, app, response.json())


def restart(p: RunningPlatform, app: str) -> dict[str, Any]:
    response = p.api.post(f"/api/apps/{app}/restart")
    assert response.status_code == 202, response.text
    return live(p, app, response.json())


def test_rollback_after_five_restarts_pruning_a_deleted_apps_images_but_never_a_users_own(
    platform: RunningPlatform, registry: str
) -> None:
    p, tag = platform, uuid.uuid4().hex[:8]
    first, a, b = (registry_only_image(registry, f"rb-{tag}/{n}:v1", f"{n}-{tag}\n") for n in ("first", "a", "b"))
    assert p.api.post("/api/apps", json={"name": "rb"}).status_code == 201
    host = "rb.berth.test"

    v1 = deploy(p, "rb", first)
    for i in range(10):  # ten deploys alternating two pulled images
        deploy(p, "rb", a if i % 2 == 0 else b)
    current = [restart(p, "rb") for _ in range(5)][-1]  # five restarts of b's image
    b_id = current["image"]
    assert b_id.startswith("sha256:") and image_id(b) == b_id

    # A prune that runs after all of this: deleting another app prunes now. That app had a
    # user's own image (built by hand, deployed by name) and then a Berth-built one.
    mine = build_busybox_image(f"berth-test/mine-{tag}:v1", f"mine-{tag}\n")
    mine_id = image_id(mine)
    assert p.api.post("/api/apps", json={"name": "gone"}).status_code == 201
    deploy(p, "gone", mine)
    dockerfile = f"FROM {mine}\nRUN echo built-{tag} > /www/built.txt\n".encode()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        entry = tarfile.TarInfo("Dockerfile")
        entry.size = len(dockerfile)
        tar.addfile(entry, io.BytesIO(dockerfile))
    upload = p.api.post(
        "/api/apps/gone/builds", content=context.getvalue(), headers={"Content-Type": "application/x-tar"}
    )
    assert upload.status_code == 202, upload.text
    built_id = live(p, "gone", upload.json(), timeout=300)["imageDigest"]
    assert built_id and image_id(built_id) == built_id
    assert p.api.delete("/api/apps/gone").status_code == 202
    wait_for(lambda: image_id(built_id) is None, timeout=120, what="the deleted app's built image pruned")
    assert image_id(mine) == mine_id  # the user's own image, and its tag, survive

    # Every image of the last 5 distinct live images is still here, so the default rollback works.
    assert image_id(a) and image_id(first), "a rollback target was pruned"
    listed = p.api.get("/api/apps/rb/releases").json()["items"]
    assert all(r["imageAvailable"] for r in listed if r["liveAt"]), listed
    response = p.api.post("/api/apps/rb/rollback")
    assert response.status_code == 202, response.text
    rolled = live(p, "rb", response.json())
    assert rolled["image"] == image_id(a) and rolled["kind"] == "rollback"
    wait_for(lambda: p.proxy_get(host).text == f"a-{tag}\n", what="rb serving a's image again")

    # Five more distinct images push the first one out of the kept five: it is pruned, the
    # app's history says so, and a rollback to it is refused at once saying how to bring it back.
    first_id = v1["imageDigest"]
    for n in range(5):
        deploy(p, "rb", registry_only_image(registry, f"rb-{tag}/c{n}:v1", f"c{n}-{tag}\n"))
    wait_for(lambda: image_id(first_id) is None, timeout=120, what="the first image pruned")
    history = p.api.get("/api/apps/rb/events").json()["items"]
    pruned = [e for e in history if e["kind"] == "image.pruned" and e["detail"]["imageId"] == first_id]
    assert pruned and "last 5 distinct live images" in pruned[0]["detail"]["reason"], history
    listed = p.api.get("/api/apps/rb/releases").json()["items"]
    assert [r["imageAvailable"] for r in listed if r["version"] == v1["version"]] == [False]
    assert [r["imageAvailable"] for r in listed[:5]] == [True] * 5
    refused = p.api.post("/api/apps/rb/rollback", json={"releaseId": v1["id"]})
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "image_gone"
    assert f"image {first_id} of release v{v1['version']} is no longer on this host" in error["message"]
    assert f"`berth deploy rb --image {first}`" in error["message"]
    assert p.proxy_get(host).text == f"c4-{tag}\n"  # nothing changed
    assert p.api.get("/api/apps/rb").json()["status"] == "running"
