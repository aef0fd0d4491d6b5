"""Volumes on the host: make, attach, link and create them, and take them apart (ADR 0028 §1).

The steps come from ``decide.plan``; each is one command or call, and each can run again after
a crash: an image appears under its final name only once its filesystem is complete (made as
``<id>.ext4.new`` and renamed), a link is replaced atomically, ``docker volume create`` of an
existing name with the same options changes nothing, and removal skips what is already gone.
What to publish is returned, not published: the caller owns the bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import aiodocker
from berth_shared import labels
from berth_shared.contracts.volumes import DesiredVolume, VolumeEvent, VolumeMissing, VolumeProvisioned

from berth_agent.volumes import decide
from berth_agent.volumes.store import StoredVolume, VolumeStore

log = logging.getLogger("berth.agent.volumes")


class VolumeError(Exception):
    """A host command failed; the message names the command and its last line of stderr."""


async def command(argv: Sequence[str]) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines() or [f"exit {process.returncode}"]
        raise VolumeError(f"{argv[0]}: {lines[-1]}")
    return out.decode(errors="replace")


async def loops() -> list[decide.Loop]:
    return decide.parse_loops(await command(decide.LIST_LOOPS_ARGV))


class VolumeHost:
    def __init__(self, docker: aiodocker.Docker, instance: str, volumes_dir: Path, store: VolumeStore) -> None:
        self._docker = docker
        self._instance = instance
        self._dir = volumes_dir
        self._store = store

    def image(self, volume_id: str) -> str:
        return decide.image_path(str(self._dir), volume_id)

    async def observe(self, desired: Sequence[DesiredVolume]) -> tuple[decide.HostVolumes, list[decide.Loop]]:
        images: dict[str, int] = {}
        links: dict[str, str] = {}
        for volume in desired:
            with contextlib.suppress(FileNotFoundError):
                images[volume.id] = os.stat(self.image(volume.id)).st_size
            with contextlib.suppress(OSError):
                links[volume.id] = os.readlink(decide.link_path(self._instance, volume.id))
        mine = json.dumps({"label": [f"{labels.INSTANCE}={self._instance}"]})
        listed = await self._docker._query_json("volumes", params={"filters": mine})
        names = {v["Name"] for v in listed.get("Volumes") or []}
        found = await loops()
        return decide.HostVolumes(images, decide.attached(found), links, names), found

    async def provision(self, app_id: str, desired: Sequence[DesiredVolume]) -> list[VolumeEvent]:
        """Bring every volume of ``app_id`` to its plan's end; the events to publish, in order."""
        host, found = await self.observe(desired)
        for device in decide.stale_loops(found, str(self._dir)):
            log.warning("detaching %s: its volume image was removed while attached", device)
            await command(decide.detach_argv(device))
        by_id = {v.id: v for v in desired}
        events: list[VolumeEvent] = []
        for plan in decide.plan(str(self._dir), desired, host):
            volume = by_id[plan.volume_id]
            device = host.loops.get(self.image(volume.id), "")
            for step in plan.steps:
                if step == "create_image":
                    await self._make_image(app_id, volume)
                elif step == "attach":
                    device = (await command(decide.attach_argv(self.image(volume.id)))).strip()
                    await self._store.attached(volume.id, device)
                elif step == "link":
                    self._link(volume.id, device)
                elif step == "docker_volume":
                    body = decide.volume_create_body(self._instance, app_id, volume)
                    await self._docker._query_json("volumes/create", method="POST", data=body)
                elif step == "report_provisioned":
                    superblock = await command(decide.superblock_argv(self.image(volume.id)))
                    usable = decide.usable_bytes(superblock)
                    nbytes = os.stat(self.image(volume.id)).st_size
                    events.append(
                        VolumeProvisioned(app_id=app_id, volume_id=volume.id, image_bytes=nbytes, usable_bytes=usable)
                    )
                elif step == "report_missing":
                    reason = f"volume {volume.name} is missing: its image {self.image(volume.id)} is gone"
                    events.append(VolumeMissing(app_id=app_id, volume_id=volume.id, reason=reason))
        return events

    async def _make_image(self, app_id: str, volume: DesiredVolume) -> None:
        self._dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        final = self.image(volume.id)
        partial = final + ".new"
        # The row first: a crash after the rename never leaves an image the store does not know.
        await self._store.record(
            StoredVolume(volume.id, app_id, final, volume.image_bytes, volume.docker_name, loop_device="")
        )
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)  # a creation cut short: nothing in it was ever used
        await command(decide.fallocate_argv(partial, volume.image_bytes))
        await command(decide.mkfs_argv(partial, volume.id))
        os.rename(partial, final)

    def _link(self, volume_id: str, device: str) -> None:
        link = Path(decide.link_path(self._instance, volume_id))
        link.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fresh = link.with_name(link.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            fresh.unlink()
        fresh.symlink_to(device)
        fresh.replace(link)

    async def remove(self, volume_id: str, docker_name: str) -> None:
        """Take a volume apart; every step skips what is gone already. Refused by the engine
        (409) while a container still uses the volume."""
        try:
            await self._docker._query_json(f"volumes/{docker_name}", method="DELETE")
        except aiodocker.DockerError as exc:
            if exc.status != 404:
                raise
        image = self.image(volume_id)
        for loop in await loops():
            if loop.back_file == image:
                await command(decide.detach_argv(loop.device))
        for path in (decide.link_path(self._instance, volume_id), image):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        await self._store.forget(volume_id)
