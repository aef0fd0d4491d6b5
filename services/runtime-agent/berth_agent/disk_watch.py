"""Watches the disks the agent fills (the engine's data root and ``$BERTH_HOME``): past the
prune watermark it prunes what Berth owns at once, and says so in the platform log.

What is measured and when to act is decided by :mod:`berth_shared.disk`; this module only
measures (``docker info`` for the data root, ``statvfs``) and calls the prune.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiodocker
from berth_shared import disk
from berth_shared.contracts.agent import DiskUsage

from berth_agent.images.decide import PrunePlan

log = logging.getLogger("berth.agent.disk")


class DiskWatch:
    def __init__(
        self,
        docker: aiodocker.Docker,
        home: Path | None,
        marks: disk.Watermarks,
        every_seconds: float,
        prune: Callable[[str], Awaitable[PrunePlan]],
    ) -> None:
        self._docker = docker
        self._home = home
        self.marks = marks
        self._every = every_seconds
        self._prune = prune
        self._data_root: str | None = None

    async def data_root(self) -> str | None:
        if self._data_root is None:
            with contextlib.suppress(aiodocker.DockerError, OSError, asyncio.TimeoutError):
                info = await self._docker.system.info()
                self._data_root = str(info.get("DockerRootDir") or "") or None
        return self._data_root

    async def usages(self) -> list[DiskUsage]:
        """The watched filesystems now; a path that cannot be measured here is left out."""
        paths = [("engine", await self.data_root()), ("home", str(self._home) if self._home else None)]
        found: list[DiskUsage] = []
        for role, path in paths:
            if path is None:
                continue
            try:
                found.append(await asyncio.to_thread(disk.measure, role, path))
            except OSError as exc:
                log.debug("cannot measure %s (%s): %s", role, path, exc)
        return found

    async def check(self) -> PrunePlan | None:
        """One look: past the prune watermark, prune now. Returns the prune's plan, if any."""
        full = disk.over(await self.usages(), self.marks.prune_percent)
        if not full:
            return None
        said = "; ".join(disk.describe(d) for d in full)
        decided = await self._prune(f"disk past the {self.marks.prune_percent}% watermark: {said}")
        log.warning(
            "disk past the %d%% watermark: %s; pruned %d image(s) Berth built or pulled that no app keeps",
            self.marks.prune_percent,
            said,
            len(decided.remove),
        )
        return decided

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception as exc:
                log.warning("disk check failed: %s", exc)
            await asyncio.sleep(self._every)
