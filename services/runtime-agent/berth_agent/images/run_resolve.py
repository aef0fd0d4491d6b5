"""Puts a release's image on the host for a rollout: found, built from source or pulled, with its
provenance recorded for the pruner, reported as ``image.pulling`` / ``image.resolved`` steps.

A re-run by id of an image that is gone fails the release at once (no pull is tried). Engine
connection errors propagate; anything else that leaves no image raises
:class:`~berth_agent.rollout.RolloutFailed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiodocker
from berth_shared.contracts.desired import DesiredApp, DesiredRelease
from berth_shared.image_refs import gone_message, is_image_id
from berth_shared.netplan import Slot

from berth_agent.builds import decide as builds
from berth_agent.builds.run import Builder, BuildFailed
from berth_agent.engine import raise_if_engine_down
from berth_agent.images.decide import BUILT, FOUND, PULLED
from berth_agent.images.decide_pull import PullProgress
from berth_agent.images.run import ImagePruner
from berth_agent.publisher import Publisher
from berth_agent.rollout import RolloutFailed, Stopwatch

log = logging.getLogger("berth.agent.images")

PULL_TIMEOUT_SECONDS = 120.0
PULL_REPORT_SECONDS = 1.0


class ImageResolver:
    def __init__(
        self,
        docker: aiodocker.Docker,
        *,
        publisher: Publisher,
        pruner: ImagePruner,
        builder: Builder | None = None,
    ) -> None:
        self._docker = docker
        self._publish = publisher
        self._pruner = pruner
        self._builder = builder

    # -- the pruner's bookkeeping, for the executor ----------------------------------------
    @contextlib.asynccontextmanager
    async def using(self, ref: str) -> AsyncIterator[None]:
        """Mark ``ref`` in use by a rollout for the duration of the block (no prune removes it)."""
        async with self._pruner.using(ref):
            yield

    async def record(self, image_id: str, app_id: str, ref: str, observed: str = FOUND) -> None:
        await self._pruner.record(image_id, app_id, ref, observed)

    async def forget_app(self, app_id: str) -> None:
        await self._pruner.forget_app(app_id)

    # -- resolving ---------------------------------------------------------------------------
    async def resolve(self, app: DesiredApp, release: DesiredRelease, slot: Slot) -> str:
        watch = Stopwatch()
        found = await self.inspect(release.image)
        digest = str(found.get("Id", "")) if found else ""
        detail, origin = digest, FOUND
        if release.build is not None and not builds.built_for(found, release.release_id):
            digest, origin = await self.build(app, release), BUILT
            detail = f"built from source in {watch.elapsed():.1f}s: {digest}"
        elif not digest and is_image_id(release.image):  # a re-run by id: nothing to pull it from
            raise RolloutFailed(gone_message(release.image, app.name, release.source_image, release.source_version))
        elif not digest:
            digest, origin = await self.pull(release.image, app.app_id, release.release_id, slot), PULLED
        await self.record(digest, app.app_id, release.image, origin)  # provenance decides pruning
        await self._publish.step(
            app.app_id, release.release_id, "image.resolved", slot=slot, detail=detail, duration_ms=watch.lap_ms()
        )
        return digest

    async def build(self, app: DesiredApp, release: DesiredRelease) -> str:
        """Build the missing image from the release's context (builds from source)."""
        if self._builder is None:
            raise RolloutFailed(f"image not found: {release.image} (this agent cannot build)")
        try:
            return await self._builder.build(app.app_id, release)
        except BuildFailed as exc:
            raise RolloutFailed(exc.reason) from None

    async def digest(self, image: str) -> str:
        found = await self.inspect(image)
        return str(found.get("Id", "")) if found else ""

    async def inspect(self, image: str) -> dict[str, Any] | None:
        try:
            return dict(await self._docker.images.inspect(image))
        except aiodocker.DockerError as exc:
            if exc.status == 404:
                return None
            raise

    async def pull(self, image: str, app_id: str, release_id: str, slot: Slot) -> str:
        """Pull ``image``, reporting progress as ``image.pulling`` steps (at most one a second)."""
        progress = PullProgress(image)
        last_report = 0.0
        try:
            async with asyncio.timeout(PULL_TIMEOUT_SECONDS):
                async for message in self._docker.images.pull(image, stream=True):
                    progress.update(message)
                    now = asyncio.get_running_loop().time()
                    if now - last_report >= PULL_REPORT_SECONDS and progress.layers:
                        last_report = now
                        await self._publish.step(
                            app_id, release_id, "image.pulling", slot=slot, detail=progress.summary()
                        )
        except (aiodocker.DockerError, TimeoutError) as exc:
            raise_if_engine_down(exc)
            log.info("pull of %s failed: %s", image, exc)
            raise RolloutFailed(f"image not found: {image}") from None
        digest = await self.digest(image)
        if not digest:
            raise RolloutFailed(f"image not found: {image}")
        return digest
