"""Deploying from source through the real CLI: `berth deploy APP DIR` packs the directory (minus
.dockerignore), the API stores it, the runtime agent builds it under limits and deploys it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from berth_testing import RunningPlatform, wait_for

pytestmark = pytest.mark.e2e

BERTH = str(Path(sys.executable).parent / "berth")
HOST = "srcdemo.berth.test"


def berth(p: RunningPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BERTH_URL": p.base, "BERTH_TOKEN": p.token, "XDG_CONFIG_HOME": str(p.home / "cli-config")}
    return subprocess.run([BERTH, *args], env=env, capture_output=True, text=True, timeout=300)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stdout


def api_get(p: RunningPlatform, path: str) -> Any:
    response = httpx.get(f"{p.base}{path}", headers={"Authorization": f"Bearer {p.token}"}, trust_env=False)
    response.raise_for_status()
    return response.json()


def source_dir(root: Path, dockerfile: str, **files: str) -> Path:
    root.mkdir()
    (root / "Dockerfile").write_text(dockerfile)
    for name, text in files.items():
        (root / name.replace("__", ".")).write_text(text)
    return root


def test_deploy_from_source_builds_deploys_and_keeps_the_log(
    platform: RunningPlatform, test_images: dict[str, str], tmp_path: Path
) -> None:
    p = platform
    ok(berth(p, "apps", "create", "srcdemo"))
    marker = uuid.uuid4().hex
    src = source_dir(
        tmp_path / "src",
        f"FROM {test_images['v1']}\nCOPY . /www/\nRUN echo built-{marker}\n",
        added__txt="added from source\n",
        secret__txt="must not be uploaded\n",
        __dockerignore="secret.txt\n",
        berth__toml="[resources]\nmemory_mb = 128\n",
    )

    out = ok(berth(p, "deploy", "srcdemo", str(src)))
    assert "Packed " in out
    assert f"  | built-{marker}" in out  # the build log, as it grew
    assert "  | Step 1/" in out
    assert "image.resolved" in out and "built from source in" in out
    assert f"Live: http://{HOST}" in out

    assert p.proxy_get(HOST, "/added.txt").text == "added from source\n"
    assert p.proxy_get(HOST, "/").text == "v1\n"
    assert p.proxy_get(HOST, "/secret.txt").status_code == 404  # .dockerignore'd: never in the image

    releases = api_get(p, "/api/apps/srcdemo/releases")["items"]
    first = api_get(p, f"/api/apps/srcdemo/releases/{releases[0]['id']}")
    assert first["kind"] == "build" and first["status"] == "live"
    tag_base = "berth-build/srcdemo-" + api_get(p, "/api/apps/srcdemo")["id"].replace("-", "")[:8]
    assert first["image"] == f"{tag_base}:v1"
    assert first["config"] and "128" in json.dumps(first["config"])
    assert f"built-{marker}" in first["buildLog"]
    assert api_get(p, "/api/apps/srcdemo")["resources"]["memoryMb"] == 128

    # A failing build fails the release with the builder's error; the live release keeps serving.
    bad = source_dir(tmp_path / "bad", f"FROM {test_images['v1']}\nRUN echo failing-{marker} && exit 3\n")
    failed = berth(p, "deploy", "srcdemo", str(bad))
    assert failed.returncode == 1, (failed.stdout, failed.stderr)
    assert "Traceback" not in failed.stderr
    assert "build failed" in failed.stderr and "returned a non-zero code: 3" in failed.stderr
    assert f"  | failing-{marker}" in failed.stdout
    assert p.proxy_get(HOST, "/added.txt").text == "added from source\n"

    # --json: the release as JSON (with its build log), nothing else on stdout.
    (src / "added.txt").write_text("added again\n")
    released = json.loads(ok(berth(p, "deploy", "srcdemo", str(src), "--json")))
    assert released["status"] == "live" and released["kind"] == "build"
    assert released["image"] == f"{tag_base}:v3"
    assert f"built-{marker}" in released["buildLog"] or "Using cache" in released["buildLog"]
    assert p.proxy_get(HOST, "/added.txt").text == "added again\n"
    app_id = api_get(p, "/api/apps/srcdemo")["id"]
    built = [r["imageDigest"] for r in api_get(p, "/api/apps/srcdemo/releases")["items"] if r["imageDigest"]]
    ok(berth(p, "apps", "delete", "srcdemo", "--yes"))
    # The agent forgets a deleted app's images without removing them; don't leave ours behind
    # (by id: another platform on this engine may have moved the tag to its own build).
    wait_for(lambda: not p.containers(app_id), timeout=30, what="the app's containers removed")
    subprocess.run(["docker", "rmi", *built], capture_output=True)
