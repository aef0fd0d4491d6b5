"""Builds from source, the I/O: fetch the release's build context from the object store into a
temporary file, send it to the engine's ``POST /build`` under the spec's limits and timeout,
stream the builder's output as ``BuildLog`` chunks, and answer the built image's id.

Decisions live in ``builds.py``. A build that fails (builder error, timeout, missing context)
raises :class:`BuildFailed`; an unreachable engine or bus raises ``EngineUnavailable`` /
``BusUnavailable`` (the command is retried, and the level-triggered loop builds again: the tag
is still missing). Cancelling the request (timeout, agent stopped or killed) closes the
connection, which makes the engine cancel the build, kill the running step's container and
remove it; after a timeout or failure the agent also removes the intermediate containers the
builder named, in case the engine has not yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import tempfile
import time
from typing import IO

import aiodocker
import aiohttp
import nats.errors
from berth_shared.contracts.builds import BUILDS_BUCKET, MAX_CONTEXT_BYTES, BuildLog, BuildSpec
from berth_shared.contracts.desired import DesiredRelease
from berth_shared.errors import BusUnavailable
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from berth_agent.builds import decide as builds
from berth_agent.builds import decide_isolation as build_isolation
from berth_agent.engine import engine_unavailable, raise_if_engine_down
from berth_agent.publisher import Publisher

log = logging.getLogger("berth.agent.builder")

FETCH_TIMEOUT_SECONDS = 120.0
FLUSH_POLL_SECONDS = 0.05
# Connecting to the engine is quick or it is down; the build itself is bounded by the spec's timeout.
BUILD_HTTP_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_read=None, sock_connect=30)


class BuildFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Bounded:
    """A write target that refuses more than ``limit`` bytes (the object store's reader writes
    into it chunk by chunk)."""

    def __init__(self, target: IO[bytes], limit: int) -> None:
        self._target = target
        self._left = limit

    def write(self, data: bytes) -> int:
        self._left -= len(data)
        if self._left < 0:
            raise BuildFailed(builds.failure_reason("the build context is larger than announced"))
        return self._target.write(data)


class Builder:
    def __init__(self, docker: aiodocker.Docker, js: JetStreamContext, publisher: Publisher, *, instance: str) -> None:
        self._docker = docker
        self._js = js
        self._publish = publisher
        self._instance = instance
        self._next_seq: dict[str, int] = {}

    async def build(self, app_id: str, release: DesiredRelease) -> str:
        """Build ``release.image`` from ``release.build``; the built image's id."""
        spec = release.build
        assert spec is not None
        with tempfile.TemporaryFile() as context:
            size = await self.fetch_context(spec, context)
            context.seek(0)
            log.info(
                "building %s from %s (%d bytes)", release.image, spec.context_object, size, extra={"app_id": app_id}
            )
            await self.run(app_id, release, spec, context)
        image_id = await self.image_id(release.image)
        if not image_id:
            raise BuildFailed(builds.failure_reason(f"the builder finished without an image tagged {release.image}"))
        return image_id

    # -- the context -----------------------------------------------------------------------
    async def fetch_context(self, spec: BuildSpec, into: IO[bytes]) -> int:
        limit = min(spec.size_bytes, MAX_CONTEXT_BYTES)
        name = spec.context_object
        try:
            async with asyncio.timeout(FETCH_TIMEOUT_SECONDS):
                store = await self._js.object_store(BUILDS_BUCKET)
                info = await store.get_info(name)
                if (info.size or 0) > limit:
                    raise BuildFailed(builds.failure_reason("the build context is larger than announced"))
                await store.get(name, writeinto=_Bounded(into, limit))  # type: ignore[arg-type]
        except NotFoundError:
            raise BuildFailed(
                builds.failure_reason(f"build context {name} not found (uploads are kept for 24 hours)")
            ) from None
        except (nats.errors.Error, TimeoutError) as exc:
            raise BusUnavailable(f"build context {name} unavailable: {type(exc).__name__}") from exc
        return into.tell()

    # -- the build -------------------------------------------------------------------------
    async def isolation(self) -> dict[str, str]:
        """Make sure the build network and the cgroup parent exist (both may have been removed
        since the last build); the query parameters that place the build's steps there."""
        info = await self._docker.system.info()
        try:
            setup = build_isolation.cgroup_setup(
                self._instance, str(info.get("CgroupDriver", "")), str(info.get("CgroupVersion", "1"))
            )
            await asyncio.to_thread(_apply_cgroup, setup)
        except (build_isolation.UnsupportedCgroups, OSError, subprocess.CalledProcessError) as exc:
            raise BuildFailed(builds.failure_reason(f"cannot limit the build's processes: {exc}")) from exc
        config = build_isolation.network_config(self._instance)
        try:
            await self._docker.networks.get(config["Name"])
        except aiodocker.DockerError as exc:
            if exc.status != 404:
                raise
            try:
                await self._docker.networks.create(config)
            except aiodocker.DockerError as created:
                if created.status != 409:  # created concurrently: fine
                    raise
        return build_isolation.isolation_params(config["Name"], setup.parent)

    async def run(self, app_id: str, release: DesiredRelease, spec: BuildSpec, context: IO[bytes]) -> None:
        try:
            isolation = await self.isolation()
        except aiodocker.DockerError as exc:
            raise_if_engine_down(exc)
            raise BuildFailed(builds.failure_reason(f"cannot create the build network: {exc.message}")) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise_if_engine_down(exc)
            raise
        params = builds.build_params(
            spec, release.image, builds.image_labels(self._instance, app_id, release.release_id), isolation
        )
        output = builds.BuildOutput()
        # A build retried in this process (engine restarted mid-build) continues the log's seq.
        batcher = builds.LineBatcher(start=self._next_seq.get(release.release_id, 0))
        done = asyncio.Event()
        flusher = asyncio.create_task(self._flush(app_id, release.release_id, batcher, done))
        timed_out = False
        try:
            try:
                async with asyncio.timeout(spec.timeout_seconds) as deadline:
                    await self._stream(params, context, output, batcher)
            except TimeoutError as exc:
                if not deadline.expired():
                    raise_if_engine_down(exc)
                    raise
                timed_out = True
                batcher.add(output.finish(), time.monotonic())
                batcher.add([f"berth: {builds.timeout_reason(spec.timeout_seconds)}"], time.monotonic())
        except BaseException:
            flusher.cancel()  # stopped, or the engine/bus is gone: the retry builds (and logs) again
            self._next_seq[release.release_id] = batcher.seq
            raise
        batcher.add(output.finish(), time.monotonic())
        done.set()
        await flusher
        self._next_seq.pop(release.release_id, None)
        if timed_out or output.failed:
            await self.remove_leftovers(output.containers)
        if timed_out:
            raise BuildFailed(builds.timeout_reason(spec.timeout_seconds))
        if output.failed:
            pids = build_isolation.BUILD_PIDS_MAX if output.fork_refused else None
            raise BuildFailed(builds.failure_reason(output.error, spec.memory_mb, pids))

    async def _stream(
        self, params: dict[str, str], context: IO[bytes], output: builds.BuildOutput, batcher: builds.LineBatcher
    ) -> None:
        splitter = builds.MessageSplitter()
        try:
            async with self._docker._query(
                "build",
                "POST",
                params=params,
                data=context,
                headers={"Content-Type": "application/x-tar"},
                timeout=BUILD_HTTP_TIMEOUT,
            ) as response:
                try:
                    async for chunk in response.content.iter_any():
                        batcher.add(output.feed_all(splitter.feed(chunk)), time.monotonic())
                    batcher.add(output.feed_all(splitter.finish()), time.monotonic())
                finally:
                    response.close()  # closing the connection is what cancels an unfinished build
        except aiodocker.DockerError as exc:
            raise_if_engine_down(exc)
            batcher.add(output.feed({"message": str(exc.message)}), time.monotonic())  # e.g. no Dockerfile
        except aiohttp.ClientPayloadError as exc:  # the engine went away mid-build
            raise engine_unavailable(exc) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise_if_engine_down(exc)
            raise

    async def _flush(self, app_id: str, release_id: str, batcher: builds.LineBatcher, done: asyncio.Event) -> None:
        """Publish chunks as they fall due, in order; everything left once ``done`` is set."""
        while True:
            stopping = done.is_set()
            while stopping or batcher.due(time.monotonic()):
                chunk = batcher.take()
                if chunk is None:
                    break
                seq, lines = chunk
                message = BuildLog(app_id=app_id, release_id=release_id, lines=lines, seq=seq)
                await self._publish.release_event("build_log", app_id, message)
            if stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), FLUSH_POLL_SECONDS)

    async def remove_leftovers(self, containers: list[str]) -> None:
        """Remove the intermediate containers the builder named (normally gone already)."""
        for container_id in containers:
            try:
                await self._docker.containers.container(container_id).delete(force=True)
                log.info("removed leftover build container %s", container_id)
            except aiodocker.DockerError as exc:
                raise_if_engine_down(exc)  # 404 gone / 409 removal in progress: fine

    async def image_id(self, image: str) -> str:
        try:
            found = await self._docker.images.inspect(image)
        except aiodocker.DockerError as exc:
            if exc.status == 404:
                return ""
            raise
        return str(found.get("Id", ""))


def _apply_cgroup(setup: build_isolation.CgroupSetup) -> None:
    """Create the cgroup parent (idempotent): directories and limit files, or a systemd slice."""
    for directory in setup.directories:
        os.makedirs(directory, exist_ok=True)
    for path, value in setup.writes:
        with open(path, "w") as f:
            f.write(value)
    if setup.unit_path:
        try:
            with open(setup.unit_path) as f:
                unchanged = f.read() == setup.unit_text
        except FileNotFoundError:
            unchanged = False
        if not unchanged:
            with open(setup.unit_path, "w") as f:
                f.write(setup.unit_text)
            subprocess.run(["systemctl", "daemon-reload"], check=True, capture_output=True)
