"""Runs a release's release command (ADR 0026 §3): one container of the new image and env at a
picked address, its output published as the release's log (``BuildLog{source: "release"}``)
while it runs, waited for up to its timeout (then SIGTERM, the stop timeout, SIGKILL), removed
once its outcome is known. A non-zero exit or the timeout raises
:class:`~berth_agent.rollout.RolloutFailed` with the exit code and the last lines: the rollout
fails before anything new was started. A container left by an agent that died mid-command is
awaited, not run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

import aiodocker
from berth_shared import labels
from berth_shared.contracts.builds import BuildLog
from berth_shared.contracts.desired import DesiredApp, DesiredRelease
from berth_shared.contracts.processes import RELEASE

from berth_agent.addresses.run import Addresses
from berth_agent.builds.decide import LineBatcher
from berth_agent.containers import decide as config
from berth_agent.containers.run import Containers
from berth_agent.engine import raise_if_engine_down
from berth_agent.publisher import Publisher
from berth_agent.release_command.decide import Lines, failure_reason
from berth_agent.rollout import RolloutFailed, Stopwatch

log = logging.getLogger("berth.agent.release_command")

FLUSH_POLL_SECONDS = 0.1


class ReleaseCommands:
    def __init__(
        self,
        docker: aiodocker.Docker,
        *,
        instance: str,
        containers: Containers,
        addresses: Addresses,
        publisher: Publisher,
    ) -> None:
        self._docker = docker
        self._instance = instance
        self._containers = containers
        self._addresses = addresses
        self._publish = publisher

    async def run(self, app: DesiredApp, release: DesiredRelease) -> None:
        command = release.release_command
        if command is None:
            return
        watch = Stopwatch()
        shown = " ".join(command.command)
        await self._publish.step(
            app.app_id, release.release_id, "release_command.started", detail=shown, process=RELEASE
        )
        container_id = await self.find(app.app_id, release.release_id) or await self.create(app, release)
        lines = Lines()
        batcher = LineBatcher()
        done = asyncio.Event()
        flusher = asyncio.create_task(self._flush(app.app_id, release.release_id, batcher, done))
        follower: asyncio.Task[None] | None = None
        timed_out = False
        try:
            await self._start(container_id)
            # Every line since the start is in the engine's log: following after the start loses none.
            follower = following = asyncio.create_task(self._follow(container_id, lines, batcher))
            try:
                exit_code = await asyncio.wait_for(self._wait(container_id), command.timeout_seconds)
            except TimeoutError:
                timed_out = True
                await self._containers.stop(container_id, release.stop_timeout_seconds)
                exit_code = await self._wait(container_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(following), 5)  # the output's end after the exit
        except RolloutFailed:
            await self._end_output(follower, lines, batcher, done, flusher)
            await self._containers.remove(container_id)
            raise
        except BaseException:
            # The agent stops or the engine/bus went away: the command runs on (a migration killed
            # midway is worse); the rollout's retry finds its container and awaits it.
            if follower is not None:
                follower.cancel()
            flusher.cancel()
            raise
        await self._end_output(follower, lines, batcher, done, flusher)
        await self._containers.remove(container_id)
        took = watch.lap_ms()
        outcome = "timed out" if timed_out else f"exit code {exit_code}"
        await self._publish.step(
            app.app_id,
            release.release_id,
            "release_command.finished",
            detail=f"{outcome} in {took / 1000:.1f} s",
            duration_ms=took,
            process=RELEASE,
        )
        reason = failure_reason(exit_code, timed_out, command.timeout_seconds, lines.last)
        if reason is not None:
            raise RolloutFailed(reason)

    @staticmethod
    async def _end_output(
        follower: asyncio.Task[None] | None,
        lines: Lines,
        batcher: LineBatcher,
        done: asyncio.Event,
        flusher: asyncio.Task[None],
    ) -> None:
        """Stop following, publish what is left (the last partial line included)."""
        if follower is not None:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await follower
        batcher.add(lines.finish(), time.monotonic())
        done.set()
        with contextlib.suppress(Exception):
            await flusher

    async def find(self, app_id: str, release_id: str) -> str | None:
        """The release command's container of this release, left by an agent that died mid-run."""
        wanted = [
            *labels.instance_filter(self._instance),
            f"{labels.APP}={app_id}",
            f"{labels.RELEASE}={release_id}",
            f"{labels.PROCESS}={RELEASE}",
        ]
        listed = await self._docker.containers.list(all=True, filters=json.dumps({"label": wanted}))
        return listed[0].id if listed else None

    async def create(self, app: DesiredApp, release: DesiredRelease) -> str:
        assert release.release_command is not None
        name = f"berth-{self._instance}-{app.name}-release-{release.release_id[:8]}"
        async with self._addresses.reserve(app.app_id, app.subnet) as address:
            body = config.one_off_config(
                app,
                release,
                self._instance,
                process=RELEASE,
                command=release.release_command.command,
                address=address,
            )
            try:
                return str((await self._docker.containers.create(body, name=name)).id)
            except aiodocker.DockerError as exc:
                raise_if_engine_down(exc)
                if exc.status == 409:
                    return str((await self._docker.containers.get(name)).id)
                raise RolloutFailed(
                    f"Docker refused to create the release command's container: {exc.message}"
                ) from None

    async def _start(self, container_id: str) -> None:
        container = self._docker.containers.container(container_id)
        state = (await container.show())["State"]
        if state.get("Running") or state.get("FinishedAt", "0001-").split("-")[0] != "0001":
            return  # running or finished (found after a restart): awaited, never run again
        try:
            await container.start()
        except aiodocker.DockerError as exc:
            raise_if_engine_down(exc)
            raise RolloutFailed(f"the release command failed to start: {exc.message}") from None

    async def _wait(self, container_id: str) -> int:
        result = await self._docker.containers.container(container_id).wait()
        return int(result.get("StatusCode", 0))

    async def _follow(self, container_id: str, lines: Lines, batcher: LineBatcher) -> None:
        container = self._docker.containers.container(container_id)
        async for chunk in container.log(stdout=True, stderr=True, follow=True):
            batcher.add(lines.feed(chunk), time.monotonic())

    async def _flush(self, app_id: str, release_id: str, batcher: LineBatcher, done: asyncio.Event) -> None:
        """Publish chunks as they fall due, in order; everything left once ``done`` is set."""
        while True:
            stopping = done.is_set()
            while stopping or batcher.due(time.monotonic()):
                chunk = batcher.take()
                if chunk is None:
                    break
                seq, text = chunk
                message = BuildLog(app_id=app_id, release_id=release_id, lines=text, seq=seq, source="release")
                await self._publish.release_event("build_log", app_id, message)
            if stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), FLUSH_POLL_SECONDS)
