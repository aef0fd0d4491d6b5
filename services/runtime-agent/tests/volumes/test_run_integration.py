"""Volumes on the real engine and kernel (ADR 0028 §1): a 64 MiB volume stops a locked-down
container's writes with ENOSPC inside while the image on the host keeps its size; nothing is
ever bind-mounted; a volume is never made twice, comes back after its links and loop device are
gone, and a provisioned volume without its image is reported missing. Image sizes are checked
against real filesystems. Every loop device, mount, link, container and Docker volume a test
made is removed, also when it fails."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiodocker
import pytest
from berth_agent.service import MIGRATIONS
from berth_agent.volumes import decide
from berth_agent.volumes.run import VolumeHost, command, loops
from berth_agent.volumes.store import VolumeStore
from berth_shared import db, labels
from berth_shared.contracts.volumes import DesiredVolume, VolumeMissing, VolumeProvisioned
from berth_shared.settings import ServiceEnv

pytestmark = pytest.mark.integration

MIB = 1 << 20


@dataclass
class Rig:
    host: VolumeHost
    store: VolumeStore
    docker: aiodocker.Docker
    instance: str
    dir: Path


def mounts_under(path: Path) -> list[str]:
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point.startswith(str(path) + "/"):
            found.append(point)
    return sorted(found, key=len, reverse=True)


@pytest.fixture
async def rig(infra: Any, tmp_path: Path) -> AsyncIterator[Rig]:
    instance = f"t{uuid.uuid4().hex[:8]}"
    env = ServiceEnv.from_env(infra.service_env("runtime-agent"))
    pool = await db.create_pool(env.database_url, "agent")
    await db.migrate(pool, "agent", MIGRATIONS)
    store = VolumeStore(pool, instance, "h1")
    docker = aiodocker.Docker()
    directory = tmp_path / "volumes"
    try:
        yield Rig(VolumeHost(docker, instance, directory, store), store, docker, instance, directory)
    finally:  # each step on its own: one that fails leaves no loop device behind
        mine = {"label": [f"{labels.INSTANCE}={instance}"]}
        with contextlib.suppress(Exception):
            for container in await docker.containers.list(all=True, filters=mine):
                await container.delete(force=True)
        with contextlib.suppress(Exception):
            for volume in (await docker.volumes.list(filters=mine)).get("Volumes") or []:
                await aiodocker.volumes.DockerVolume(docker, volume["Name"]).delete()
        for point in mounts_under(tmp_path):
            await command(["umount", "--lazy", point])
        for loop in await loops():
            if loop.back_file.startswith(str(tmp_path) + "/"):
                await command(decide.detach_argv(loop.device))
        shutil.rmtree(f"/run/berth-{instance}", ignore_errors=True)
        await pool.execute("DELETE FROM volumes WHERE instance = $1", instance)
        await pool.close()
        await docker.close()


def image_state(path: str) -> tuple[int, int] | None:
    """The image's size and the bytes allocated to it on the host; None when it is gone."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_size, found.st_blocks * 512


def leave(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def desired(rig: Rig, *, provisioned: bool = False, vid: str = "") -> DesiredVolume:
    vid = vid or uuid.uuid4().hex
    return DesiredVolume(id=vid, name="data", docker_name=decide.docker_name(rig.instance, vid), size_mb=64,
                         image_bytes=decide.image_bytes(64), mount_path="/data", provisioned=provisioned)  # fmt: skip


async def run_in(rig: Rig, image: str, volume: DesiredVolume, script: str) -> tuple[list[str], dict[str, Any]]:
    """Run ``script`` in a container with every capability dropped and no new privileges, the
    volume mounted as an app's would be; its output and its inspection once it exited."""
    container = await rig.docker.containers.create(
        {
            "Image": image,
            "Cmd": ["/bin/sh", "-c", script],
            "Labels": {labels.MANAGED: "true", labels.INSTANCE: rig.instance},
            "HostConfig": {
                "Mounts": [decide.mount_of(volume)],
                "CapDrop": ["ALL"],
                "SecurityOpt": ["no-new-privileges"],
                "NetworkMode": "none",
            },
        },
        name=f"{rig.instance}-{uuid.uuid4().hex[:6]}",
    )
    await container.start()
    await asyncio.wait_for(container.wait(), 60)
    output = "".join(await container.log(stdout=True, stderr=True)).splitlines()
    inspected = await container.show()
    await container.delete(force=True)
    return output, inspected


async def test_writes_stop_with_enospc_inside_and_the_host_image_keeps_its_size(
    rig: Rig, test_images: dict[str, str]
) -> None:
    volume = desired(rig)
    [provisioned] = await rig.host.provision("app1", [volume])
    assert isinstance(provisioned, VolumeProvisioned) and provisioned.volume_id == volume.id
    assert provisioned.usable_bytes >= 64 * MIB and provisioned.image_bytes == volume.image_bytes
    image = rig.host.image(volume.id)
    size, allocated = image_state(image) or (0, 0)
    assert size == volume.image_bytes
    assert volume.image_bytes <= allocated <= volume.image_bytes + 64 * 1024  # preallocated (plus extent blocks)
    link = f"/run/berth-{rig.instance}/volumes/{volume.id}"
    assert os.readlink(link).startswith("/dev/loop")
    listed = json.loads(await command(["losetup", "--list", "--json", "--output", "NAME,DIO", os.readlink(link)]))
    assert listed["loopdevices"][0]["dio"] in (True, "1")  # no second copy of its pages in the host's cache
    shown = await aiodocker.volumes.DockerVolume(rig.docker, volume.docker_name).show()
    assert shown["Options"] == {"type": "ext4", "device": link, "o": "nodev,nosuid"}
    assert shown["Labels"]["berth.volume"] == volume.id and shown["Labels"]["berth.app"] == "app1"

    script = "dd if=/dev/zero of=/data/fill bs=1M count=200; echo dd=$?; stat -c size=%s /data/fill"
    output, inspected = await run_in(rig, test_images["v1"], volume, script)
    assert any("No space left on device" in line for line in output), output
    assert "dd=1" in output
    written = int(next(line for line in output if line.startswith("size=")).removeprefix("size="))
    assert 64 * MIB <= written < volume.image_bytes  # the app got the size it asked for, no more
    assert [m["Type"] for m in inspected["Mounts"]] == ["volume"]
    assert not inspected["HostConfig"].get("Binds")
    assert all(m["Type"] == "volume" for m in inspected["HostConfig"]["Mounts"])
    assert image_state(image) == (volume.image_bytes, allocated)  # nothing outside grew

    await rig.host.remove(volume.id, volume.docker_name)
    assert image_state(image) is None and image_state(link) is None
    assert not [loop for loop in await loops() if loop.back_file == image]
    with pytest.raises(aiodocker.DockerError):
        await aiodocker.volumes.DockerVolume(rig.docker, volume.docker_name).show()
    assert await rig.store.rows() == []


async def test_a_volume_is_never_made_twice_and_comes_back_after_its_links_and_loops_are_gone(
    rig: Rig, test_images: dict[str, str]
) -> None:
    volume = desired(rig)
    await rig.host.provision("app1", [volume])
    output, _ = await run_in(rig, test_images["v1"], volume, "echo kept > /data/note && cat /data/note")
    assert output == ["kept"]
    # The event was lost: the API still says "never provisioned". The agent reports it again and
    # makes nothing.
    [again] = await rig.host.provision("app1", [volume])
    assert isinstance(again, VolumeProvisioned)
    known = desired(rig, provisioned=True, vid=volume.id)
    assert await rig.host.provision("app1", [known]) == []
    # A reboot: /run is empty and no loop device is attached.
    shutil.rmtree(f"/run/berth-{rig.instance}")
    for loop in await loops():
        if loop.back_file == rig.host.image(volume.id):
            await command(decide.detach_argv(loop.device))
    assert await rig.host.provision("app1", [known]) == []
    output, _ = await run_in(rig, test_images["v1"], volume, "cat /data/note")
    assert output == ["kept"]
    [row] = await rig.store.rows()
    assert row.volume_id == volume.id and row.loop_device == os.readlink(decide.link_path(rig.instance, volume.id))


async def test_a_provisioned_volume_without_its_image_is_reported_missing_and_not_made(rig: Rig) -> None:
    volume = desired(rig, provisioned=True)
    [missing] = await rig.host.provision("app1", [volume])
    assert isinstance(missing, VolumeMissing) and "is gone" in missing.reason
    assert image_state(rig.host.image(volume.id)) is None
    with pytest.raises(aiodocker.DockerError):
        await aiodocker.volumes.DockerVolume(rig.docker, volume.docker_name).show()


@pytest.mark.parametrize("size_mb", [64, 1024, 10240])
async def test_an_images_filesystem_lets_the_app_write_its_size(rig: Rig, size_mb: int) -> None:
    """statvfs of real filesystems made as the agent makes them (sparse here: only the geometry
    matters), and the superblock's reading the agent reports equals it."""
    rig.dir.mkdir()
    image, point = rig.dir / "v.ext4", rig.dir / "m"
    point.mkdir()
    with image.open("wb") as f:
        f.truncate(decide.image_bytes(size_mb))
    await command(decide.mkfs_argv(str(image), "v"))
    device = (await command(["losetup", "--find", "--show", str(image)])).strip()
    await command(["mount", "-o", decide.MOUNT_OPTIONS, device, str(point)])
    try:
        stats = os.statvfs(point)
    finally:
        await command(["umount", str(point)])
        with contextlib.suppress(Exception):
            await command(decide.detach_argv(device))
    available = stats.f_bavail * stats.f_frsize
    assert available >= size_mb * MIB
    assert available <= size_mb * MIB * 1.005 + 2 * MIB  # and the estimate wastes little
    assert decide.usable_bytes(await command(decide.superblock_argv(str(image)))) == available


async def test_a_creation_cut_short_is_made_again_whole(rig: Rig, test_images: dict[str, str]) -> None:
    """A crash between fallocate and the rename leaves ``<id>.ext4.new``: not an image, so the
    volume is still to be made, and what was left is replaced."""
    volume = desired(rig)
    rig.dir.mkdir()
    leave(rig.host.image(volume.id) + ".new", b"half")
    [provisioned] = await rig.host.provision("app1", [volume])
    assert isinstance(provisioned, VolumeProvisioned) and provisioned.usable_bytes >= 64 * MIB
    assert image_state(rig.host.image(volume.id) + ".new") is None
    output, _ = await run_in(rig, test_images["v1"], volume, "ls -A /data")
    assert output == ["lost+found"]
