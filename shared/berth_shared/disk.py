"""Disk watermarks: how full the filesystems Berth writes to are, and what that means.

Two filesystems matter: the engine's data root (images, containers, their logs; measured by
the runtime agent, which learns the path from ``docker info``) and ``$BERTH_HOME`` (Postgres,
NATS, Caddy; measured by both the agent and the API). Past ``prune_percent`` Berth removes
what it owns and no app needs; past ``refuse_percent`` it refuses new deploys and builds
(``disk_full``) so the disk never fills up under the platform's own state (ADR 0016).
The decisions are pure; :func:`measure` is the one ``statvfs`` call.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from berth_shared.contracts.agent import DiskUsage
from berth_shared.errors import DiskFull

DEFAULT_PRUNE_PERCENT = 90
DEFAULT_REFUSE_PERCENT = 95


@dataclass(frozen=True)
class Watermarks:
    prune_percent: int = DEFAULT_PRUNE_PERCENT
    refuse_percent: int = DEFAULT_REFUSE_PERCENT


def measure(role: str, path: str) -> DiskUsage:
    """``df`` of the filesystem holding ``path``: used and available to unprivileged writers."""
    st = os.statvfs(path)
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    return DiskUsage(role=role, path=path, used_bytes=used, available_bytes=st.f_bavail * st.f_frsize)


def over(disks: Iterable[DiskUsage], percent: int) -> list[DiskUsage]:
    """The disks at or past ``percent`` used, fullest first."""
    return sorted((d for d in disks if d.used_percent >= percent), key=lambda d: -d.used_percent)


def describe(disk: DiskUsage) -> str:
    free_mib = disk.available_bytes // (1024 * 1024)
    where = "the Docker engine's data root" if disk.role == "engine" else "$BERTH_HOME"
    return f"{where} {disk.path} is {disk.used_percent:.0f}% full ({free_mib} MiB free)"


def refusal(disks: Iterable[DiskUsage], marks: Watermarks, what: str) -> DiskFull | None:
    """The error refusing ``what`` (e.g. "deploy"), or None when every disk is below the mark."""
    full = over(disks, marks.refuse_percent)
    if not full:
        return None
    return DiskFull(
        f"{what} refused: {describe(full[0])}, past the {marks.refuse_percent}% watermark "
        "(BERTH_DISK_REFUSE_PERCENT); running apps keep serving. Free space on that disk "
        "(remove unused images, old files) and try again"
    )
