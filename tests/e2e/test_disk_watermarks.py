"""Disk watermarks on a real, small filesystem: $BERTH_HOME on a 3 GiB loop-mounted ext4.
Past 90 % the agent prunes and says so; past 95 % deploys and builds are refused with
`disk_full` while running apps keep serving and the platform's own state keeps working."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from berth_testing import RunningPlatform, start_platform, stop_platform, wait_for

pytestmark = pytest.mark.e2e

# JetStream reserves its streams' byte limits (about 1.5 GiB) out of 75 % of the free space.
SIZE = 3 * 1024 * 1024 * 1024


@pytest.fixture
def small_home(tmp_path: Path) -> Iterator[Path]:
    """A 3 GiB ext4 filesystem in a file, loop-mounted (no reserved blocks: `df` = statvfs)."""
    image, home = tmp_path / "home.ext4", tmp_path / "home"
    home.mkdir()
    subprocess.run(["truncate", "-s", str(SIZE), str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-m", "0", "-F", str(image)], check=True)
    subprocess.run(["mount", "-o", "loop", str(image), str(home)], check=True)
    home.chmod(0o700)
    try:
        yield home
    finally:
        subprocess.run(["umount", "-l", str(home)], check=False)
        image.unlink()


@pytest.fixture
def small_platform(small_home: Path) -> Iterator[RunningPlatform]:
    p = start_platform(small_home, BERTH_DISK_CHECK_SECONDS="1")
    try:
        yield p
    finally:
        stop_platform(p)


def used_percent(path: Path) -> float:
    st = os.statvfs(path)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    return 100.0 * used / (used + st.f_bavail * st.f_frsize)


def fill_to(path: Path, percent: float) -> Path:
    """Write a file until ``path``'s filesystem is ``percent`` full."""
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    need = int(total * percent / 100) - (st.f_blocks - st.f_bfree) * st.f_frsize
    filler = path / "filler"
    subprocess.run(["fallocate", "-l", str(max(need, 4096)), str(filler)], check=True)
    return filler


def test_past_95_percent_deploys_and_builds_are_refused_and_apps_keep_serving(
    small_platform: RunningPlatform, test_images: dict[str, str]
) -> None:
    p, home = small_platform, small_platform.home
    assert p.api.post("/api/apps", json={"name": "steady"}).status_code == 201
    first = p.api.post("/api/apps/steady/deploy", json={"image": test_images["v1"]}).json()
    wait_for(
        lambda: p.api.get(f"/api/apps/steady/releases/{first['id']}").json()["status"] == "live",
        timeout=120,
        what="steady live",
    )
    assert used_percent(home) < 90

    filler = fill_to(home, 96.5)
    refused = p.api.post("/api/apps/steady/deploy", json={"image": test_images["v2"]})
    assert refused.status_code == 507, refused.text
    error = refused.json()["error"]
    assert error["code"] == "disk_full"
    assert error["message"].startswith(f"deploy refused: $BERTH_HOME {home} is 9")
    assert "past the 95% watermark" in error["message"] and "running apps keep serving" in error["message"]
    build = p.api.post("/api/apps/steady/builds", content=b"\0" * 1024, headers={"Content-Type": "application/x-tar"})
    assert build.status_code == 507 and build.json()["error"]["code"] == "disk_full", build.text

    # Running apps keep serving, nothing was queued, and the platform's own state keeps working.
    assert p.proxy_get("steady.berth.test").text == "v1\n"
    releases = p.api.get("/api/apps/steady/releases").json()["items"]
    assert [r["version"] for r in releases] == [first["version"]]
    assert p.api.post("/api/apps", json={"name": "later"}).status_code == 201
    restarted = p.api.post("/api/apps/steady/restart")  # re-runs an image already here: allowed
    assert restarted.status_code == 202, restarted.text

    # Past 90 % the agent pruned what it owns and said so in the platform log.
    def said() -> list[dict[str, object]]:
        found = p.api.get("/api/platform/logs", params={"service": "runtime-agent", "q": "watermark"}).json()
        return found["items"]

    lines = wait_for(said, timeout=60, what="the agent's disk line in the platform log")
    assert f"$BERTH_HOME {home} is 9" in str(lines[-1]) and "pruned" in str(lines[-1])

    # Space freed: deploys go again.
    filler.unlink()
    again = p.api.post("/api/apps/steady/deploy", json={"image": test_images["v2"]})
    assert again.status_code == 202, again.text
    wait_for(lambda: p.proxy_get("steady.berth.test").text == "v2\n", timeout=120, what="v2 serving")
