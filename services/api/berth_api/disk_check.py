"""Refuses new deploys and builds when a disk Berth writes to is past the refuse watermark
(``disk_full``, 507; ADR 0016): ``$BERTH_HOME`` measured here, the engine's data root as the
runtime agent reports it in its status."""

from __future__ import annotations

from berth_shared import disk
from berth_shared.contracts.agent import AgentStatus
from berth_shared.settings import Settings


def watermarks(settings: Settings) -> disk.Watermarks:
    return disk.Watermarks(settings.disk_prune_percent, settings.disk_refuse_percent)


def require_disk(status: AgentStatus | None, settings: Settings, what: str) -> None:
    """Raise DiskFull for ``what`` ("deploy", "build") when a disk is too full to take it."""
    disks = [d for d in (status.disks if status else []) if d.role != "home"]
    disks.append(disk.measure("home", str(settings.home)))
    if (refused := disk.refusal(disks, watermarks(settings), what)) is not None:
        raise refused
