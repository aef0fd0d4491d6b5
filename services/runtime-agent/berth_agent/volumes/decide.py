"""Volumes on the host: how large an image is, what to run to make and attach one, and which
steps each of an app's volumes still needs (ADR 0028 §1). Pure.

A volume is an ext4 filesystem in a preallocated image ``<volumes dir>/<volume id>.ext4``,
attached to a loop device, reached through a link ``/run/berth-<instance>/volumes/<volume id>``
(on tmpfs: gone after a reboot, so a reused loop number never leads to another volume's data),
and mounted by Docker as the named volume ``berth-<instance>-v-<volume id>`` (driver ``local``,
``device`` the link). Nothing of type ``bind`` is ever given to a container.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from berth_shared import labels
from berth_shared.contracts.volumes import DesiredVolume

MIB: Final = 1 << 20
BLOCK: Final = 4096
# Every image is made with mke2fs's "default" usage type (4 KiB blocks, an inode per 16 KiB of
# 256 bytes), whatever its size: below 512 MiB mke2fs would pick "small" (1 KiB blocks), which
# holds less and stays 1 KiB-blocked when the volume grows.
INODE_RATIO: Final = 16384
INODE_SIZE: Final = 256
# ext4 keeps 2 % of the blocks, at most 4096, out of f_bavail (s_resv_clusters).
RESERVED_SHARE: Final = 50
RESERVED_MAX_BLOCKS: Final = 4096
MOUNT_OPTIONS: Final = "nodev,nosuid"
IMAGE_SUFFIX: Final = ".ext4"
DELETED: Final = " (deleted)"
VOLUME_LABEL: Final = "berth.volume"
VOLUME_NAME_LABEL: Final = "berth.volume.name"


def _journal_blocks(blocks: int) -> int:
    """mke2fs 1.47's default journal size for a filesystem of ``blocks`` 4 KiB blocks
    (``ext2fs_default_journal_size``)."""
    for limit, size in ((2048, 0), (32768, 1024), (256 * 1024, 4096), (512 * 1024, 8192), (4096 * 1024, 16384),
                        (8192 * 1024, 32768), (16384 * 1024, 65536), (32768 * 1024, 131072)):  # fmt: skip
        if blocks < limit:
            return size
    return 262144


def usable_estimate_mb(image_mb: int) -> float:
    """What an app can write to a fresh filesystem in an image of ``image_mb`` MiB, rounded down:
    the image less the journal, the inode tables, the blocks ext4 keeps back, and a margin for
    bitmaps, group descriptors and the blocks reserved for growing (measured: 0.1-0.36 %)."""
    blocks = image_mb * MIB // BLOCK
    journal = _journal_blocks(blocks) * BLOCK / MIB
    inodes = image_mb * INODE_SIZE / INODE_RATIO
    reserved = min(blocks // RESERVED_SHARE, RESERVED_MAX_BLOCKS) * BLOCK / MIB
    margin = image_mb * 0.004 + 0.5
    return image_mb - journal - inodes - reserved - margin


def image_bytes(size_mb: int) -> int:
    """The image's size for a volume of ``size_mb``: the smallest whole number of MiB whose
    filesystem lets the app write at least ``size_mb`` MiB."""
    image_mb = size_mb
    while (short := size_mb - usable_estimate_mb(image_mb)) > 0:
        image_mb += math.ceil(short)
    return image_mb * MIB


def image_path(volumes_dir: str, volume_id: str) -> str:
    return f"{volumes_dir.rstrip('/')}/{volume_id}{IMAGE_SUFFIX}"


def links_dir(instance: str) -> str:
    """Where the links to the loop devices live: on tmpfs, so none survives a reboot."""
    return f"/run/berth-{instance}/volumes"


def link_path(instance: str, volume_id: str) -> str:
    return f"{links_dir(instance)}/{volume_id}"


def docker_name(instance: str, volume_id: str) -> str:
    return f"berth-{instance}-v-{volume_id}"


def fallocate_argv(path: str, nbytes: int) -> list[str]:
    """Preallocated, never sparse: the space is taken once, so a full host cannot turn the app's
    writes into I/O errors inside its filesystem, and volumes cannot overcommit the disk."""
    return ["fallocate", "-l", str(nbytes), path]


def mkfs_argv(path: str, volume_id: str, uid: int = 0, gid: int = 0) -> list[str]:
    """``-m 0``: nothing kept for root; ``nodiscard``: mkfs punches no holes into the preallocation."""
    return ["mkfs.ext4", "-q", "-F", "-T", "default", "-m", "0",
            "-E", f"nodiscard,root_owner={uid}:{gid}", "-L", volume_id[:16], path]  # fmt: skip


def attach_argv(path: str) -> list[str]:
    return ["losetup", "--find", "--show", "--direct-io=on", path]


def detach_argv(device: str) -> list[str]:
    return ["losetup", "--detach", device]


LIST_LOOPS_ARGV: Final = ["losetup", "--list", "--json", "--output", "NAME,BACK-FILE"]


@dataclass(frozen=True)
class Loop:
    device: str
    back_file: str
    # The image was removed while attached: the device still holds the old data.
    deleted: bool = False


def parse_loops(output: str) -> list[Loop]:
    """``losetup --list --json`` (empty output: no loop device in use)."""
    if not output.strip():
        return []
    found: list[Loop] = []
    for entry in json.loads(output).get("loopdevices", []):
        back = str(entry.get("back-file") or "")
        deleted = back.endswith(DELETED)
        found.append(Loop(device=str(entry["name"]), back_file=back.removesuffix(DELETED), deleted=deleted))
    return found


def attached(loops: Sequence[Loop]) -> dict[str, str]:
    """Image path -> loop device, for images that still exist."""
    return {loop.back_file: loop.device for loop in loops if not loop.deleted}


def stale_loops(loops: Sequence[Loop], volumes_dir: str) -> list[str]:
    """Loop devices of volume images that were removed while attached (detach them)."""
    prefix = volumes_dir.rstrip("/") + "/"
    return [loop.device for loop in loops if loop.deleted and loop.back_file.startswith(prefix)]


def superblock_argv(path: str) -> list[str]:
    return ["dumpe2fs", "-h", path]


def usable_bytes(superblock: str) -> int:
    """What the app can write, from ``dumpe2fs -h``: the free blocks less those ext4 keeps back
    (equal to ``statvfs``'s f_bavail of the mounted filesystem, without mounting it)."""
    fields: dict[str, int] = {}
    for line in superblock.splitlines():
        key, _, value = line.partition(":")
        if key in ("Block count", "Free blocks", "Block size"):
            fields[key] = int(value.strip())
    count, free, size = fields["Block count"], fields["Free blocks"], fields["Block size"]
    return max(0, free - min(count // RESERVED_SHARE, RESERVED_MAX_BLOCKS)) * size


def volume_create_body(instance: str, app_id: str, volume: DesiredVolume) -> dict[str, Any]:
    """``POST /volumes/create``: the local driver mounts the link's loop device itself."""
    return {
        "Name": volume.docker_name,
        "Driver": "local",
        "DriverOpts": {"type": "ext4", "device": link_path(instance, volume.id), "o": MOUNT_OPTIONS},
        "Labels": {
            labels.MANAGED: "true",
            labels.INSTANCE: instance,
            labels.APP: app_id,
            VOLUME_LABEL: volume.id,
            VOLUME_NAME_LABEL: volume.name,
        },
    }


def mount_of(volume: DesiredVolume, *, read_only: bool = False) -> dict[str, Any]:
    """A container's ``HostConfig.Mounts`` entry: always a named volume, never seeded from the image."""
    return {
        "Type": "volume",
        "Source": volume.docker_name,
        "Target": volume.mount_path,
        "ReadOnly": read_only,
        "VolumeOptions": {"NoCopy": True},
    }


def mounts_for(volumes: Sequence[DesiredVolume], process: str) -> list[dict[str, Any]]:
    """The ``Mounts`` of a container of ``process`` (a process type, or ``release``, ``cron``,
    ``run`` for the one-off containers): every volume that names it, or names no process."""
    return [mount_of(v) for v in volumes if v.processes is None or process in v.processes]


# The agent reports a volume's usage when it moved by this share of the usable space, or crossed
# one of the marks (ADR 0028 §4: 90 % almost full; full when less than 1 % is free).
USAGE_STEP: Final = 0.01
USAGE_MARKS: Final = (0.90, 0.99)


def usage_worth_reporting(previous_used: int | None, used: int, usable: int) -> bool:
    """Whether ``used`` bytes (of ``usable``) is news after ``previous_used`` was reported."""
    if previous_used is None:
        return True
    if usable <= 0:
        return previous_used != used
    if abs(used - previous_used) >= usable * USAGE_STEP:
        return True
    return any((previous_used >= usable * mark) != (used >= usable * mark) for mark in USAGE_MARKS)


Action = Literal["create_image", "attach", "link", "docker_volume", "report_provisioned", "report_missing"]


@dataclass(frozen=True)
class HostVolumes:
    """What the agent found: the images present (volume id -> bytes), the loop devices attached
    (image path -> device), the links (volume id -> target) and the Docker volumes' names."""

    images: Mapping[str, int]
    loops: Mapping[str, str]
    links: Mapping[str, str]
    docker_volumes: Collection[str]


@dataclass(frozen=True)
class VolumePlan:
    volume_id: str
    steps: tuple[Action, ...]


def plan(volumes_dir: str, desired: Sequence[DesiredVolume], host: HostVolumes) -> list[VolumePlan]:
    """The steps each desired volume still needs, in order. A filesystem is made only for a
    volume never reported provisioned whose image does not exist; an image that exists is never
    made again (a lost event is reported again instead), and a provisioned volume without its
    image is reported missing — never replaced by an empty one."""
    plans: list[VolumePlan] = []
    for volume in desired:
        steps: list[Action] = []
        if volume.id not in host.images:
            if volume.provisioned:
                plans.append(VolumePlan(volume.id, ("report_missing",)))
                continue
            steps = ["create_image", "attach", "link", "docker_volume", "report_provisioned"]
        else:
            device = host.loops.get(image_path(volumes_dir, volume.id))
            if device is None:
                steps += ["attach", "link"]
            elif host.links.get(volume.id) != device:
                steps.append("link")
            if volume.docker_name not in host.docker_volumes:
                steps.append("docker_volume")
            if not volume.provisioned:
                steps.append("report_provisioned")
        plans.append(VolumePlan(volume.id, tuple(steps)))
    return plans
