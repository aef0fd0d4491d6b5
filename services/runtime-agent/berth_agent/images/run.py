"""Image bookkeeping and pruning: records what rollouts use, removes what nothing needs any more.

The decision is :func:`berth_agent.images.decide.plan_prune`; this module gathers its inputs (the
agent's rows, Docker's images and containers, the rollouts in progress) and carries it out.
A rollout marks its image in use (under ``lock``) before it resolves it, and a prune holds the
same lock from its snapshot to its last removal, so no image can vanish under a rollout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Iterable

import aiodocker

from berth_agent.images.decide import FOUND, LocalImage, PrunePlan, PruneTarget, normalize, plan_prune
from berth_agent.images.store import ImageStore

log = logging.getLogger("berth.agent.pruner")

PRUNE_EVERY_SECONDS = 600.0
IGNORED_STATUSES = (404, 409)  # gone already / in use or referenced elsewhere: leave it


class ImagePruner:
    def __init__(self, docker: aiodocker.Docker, store: ImageStore | None) -> None:
        self._docker = docker
        self._store = store
        self.lock = asyncio.Lock()
        self._in_progress: Counter[str] = Counter()

    # -- rollouts ------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def using(self, ref: str) -> AsyncIterator[None]:
        """Mark ``ref`` in use by a rollout for the duration of the block."""
        async with self.lock:
            self._in_progress[ref] += 1
        try:
            yield
        finally:
            self._in_progress[ref] -= 1
            if self._in_progress[ref] <= 0:
                del self._in_progress[ref]

    def in_progress(self) -> frozenset[str]:
        return frozenset(self._in_progress)

    async def record(self, image_id: str, app_id: str, ref: str, observed: str = FOUND) -> None:
        """Record that ``ref`` (``image_id``) serves ``app_id``; ``observed``: ``built``/``pulled``
        when this rollout put it on the host, else ``found``."""
        if self._store is None or not image_id:
            return
        try:
            await self._store.record(image_id, app_id, ref, observed)
        except Exception as exc:  # bookkeeping must never fail a rollout; it only delays a prune
            log.warning("could not record image %s: %s", ref, exc, extra={"app_id": app_id})

    async def forget_app(self, app_id: str) -> None:
        if self._store is None:
            return
        try:
            await self._store.forget_app(app_id)
        except Exception as exc:
            log.warning("could not forget the app's images: %s", exc, extra={"app_id": app_id})

    # -- pruning -------------------------------------------------------------------------
    async def prune(self, keep: Iterable[str], keep_apps: Iterable[str] = ()) -> PrunePlan:
        """Remove the recorded images nothing keeps or uses; returns what was removed."""
        if self._store is None:
            return PrunePlan()
        kept, whole_apps = list(keep), list(keep_apps)
        rows = await self._store.rows()
        if not rows:
            return PrunePlan()
        async with self.lock:
            in_use = {*self._in_progress, *await self.container_images()}
            local = {}
            for image_id in sorted({r.image_id for r in rows}):
                if (found := await self.local(image_id)) is not None:
                    local[image_id] = found
            decided = plan_prune(rows, local, kept, in_use, whole_apps)
            gone = [target.image_id for target in decided.remove if await self.remove(target)]
        await self._store.forget_images([*decided.forget, *gone])
        if decided.remove:
            log.info("pruned %d of %d unused image(s)", len(gone), len(decided.remove))
        return PrunePlan(remove=tuple(t for t in decided.remove if t.image_id in gone), forget=decided.forget)

    async def container_images(self) -> set[str]:
        """Image ids and refs of every container on the host (any state, any owner)."""
        found: set[str] = set()
        for container in await self._docker.containers.list(all=True):
            for key in ("ImageID", "Image"):
                if value := container._container.get(key):
                    found.add(str(value))
        return found

    async def local(self, image_id: str) -> LocalImage | None:
        try:
            inspected = await self._docker.images.inspect(image_id)
        except aiodocker.DockerError as exc:
            if exc.status == 404:
                return None
            raise
        return LocalImage(
            image_id=str(inspected.get("Id", image_id)),
            tags=tuple(inspected.get("RepoTags") or ()),
            digests=tuple(inspected.get("RepoDigests") or ()),
        )

    async def remove(self, target: PruneTarget) -> bool:
        """Untag the refs the agent used (or delete by id); True when none of them is left."""
        for name in target.refs or (target.image_id,):
            try:
                await self._docker.images.delete(name)
            except aiodocker.DockerError as exc:
                if exc.status not in IGNORED_STATUSES:
                    log.warning("could not remove image %s: %s", name, exc.message)
                else:
                    log.debug("image %s not removed: %s", name, exc.message)
        left = await self.local(target.image_id)
        if left is None:
            return True
        if not target.refs:
            return False
        names = {normalize(n) for n in (*left.tags, *left.digests)}
        return not any(normalize(ref) in names for ref in target.refs)
