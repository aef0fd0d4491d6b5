"""Carries out the planner's steps against Docker and reports each one on the bus.

Thin on purpose: every decision was made by the planner; this module only does I/O, times it,
publishes what happened and records outcomes in the agent's memory. Engine connection errors
propagate (the caller naks the command); Docker refusing a rollout fails the release.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiodocker
from berth_shared.contracts.desired import DesiredApp, DesiredRelease
from berth_shared.contracts.releases import AppCleanedUp, AppCrashed, ReleaseFailed, ReleaseLive
from berth_shared.image_refs import gone_message, is_image_id
from berth_shared.netplan import Slot, slot_address
from berth_shared.proxy import ACTIVE_HEALTH_INTERVAL_SECONDS, PROXY_SWITCH_SECONDS

from berth_agent.builds import decide as builds
from berth_agent.builds.run import Builder, BuildFailed
from berth_agent.containers import decide as config
from berth_agent.containers.run_ready import NotReady, probe_for, wait_ready
from berth_agent.drain.decide import DrainRule
from berth_agent.drain.run import Firewall
from berth_agent.engine import raise_if_engine_down
from berth_agent.images.decide import BUILT, FOUND, PULLED
from berth_agent.images.decide_pull import PullProgress
from berth_agent.images.run import ImagePruner
from berth_agent.memory import MemoryStore
from berth_agent.planner import (
    CleanUp,
    ConfirmLive,
    Deploy,
    GiveUp,
    HardRestart,
    RecheckAt,
    RemoveContainers,
    Restart,
    Restore,
    Step,
)
from berth_agent.publisher import Publisher
from berth_agent.state import ObservedContainer, ObservedNetwork, StartFailure

log = logging.getLogger("berth.agent.executor")

# Caddy's active health check runs every 0.5 s (design §5); the agent waits PROXY_SWITCH_SECONDS
# (a little over two intervals) after the new slot is ready, so the proxy has marked it healthy,
# and again after it refused new connections to the old slot, so the proxy has marked it down.
PULL_TIMEOUT_SECONDS = 120.0
PULL_REPORT_SECONDS = 1.0


class RolloutFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Stopwatch:
    def __init__(self) -> None:
        self._start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self._start

    def lap_ms(self) -> int:
        now = time.monotonic()
        elapsed, self._start = now - self._start, now
        return int(elapsed * 1000)


class Executor:
    def __init__(
        self,
        docker: aiodocker.Docker,
        *,
        instance: str,
        host: str,
        publisher: Publisher,
        memory: MemoryStore,
        expected_stops: set[str],
        schedule_recheck: Callable[[str, float], None],
        firewall: Firewall,
        images: ImagePruner,
        builder: Builder | None = None,
        on_live: Callable[[], None] = lambda: None,
        before_remove: Callable[[str], Awaitable[None]] | None = None,
        on_cleaned_up: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._docker = docker
        self._instance = instance
        self._host = host
        self._publish = publisher
        self._memory = memory
        self._expected_stops = expected_stops
        self._schedule_recheck = schedule_recheck
        self._firewall = firewall
        self._images = images
        self._builder = builder
        self._on_live = on_live
        self._before_remove = before_remove
        self._on_cleaned_up = on_cleaned_up

    async def run(self, step: Step) -> None:
        match step:
            case Deploy():
                await self.deploy(step)
            case ConfirmLive():
                await self.confirm_live(step)
            case Restore():
                await self.restore(step)
            case Restart():
                await self.restart(step)
            case RecheckAt():
                self._schedule_recheck(step.app_id, step.at)
            case GiveUp():
                await self.give_up(step)
            case RemoveContainers():
                await self.remove_all(step.containers)
            case CleanUp():
                await self.clean_up(step)

    # -- rollouts ------------------------------------------------------------------------
    async def deploy(self, step: Deploy) -> None:
        async with self._images.using(step.release.image):
            await self._deploy(step)

    async def _deploy(self, step: Deploy) -> None:
        app, release, slot = step.app, step.release, step.slot
        log.info("deploying %s in slot %s", release.release_id, slot, extra={"app_id": app.app_id})
        try:
            digest = await self.resolve_image(app, release, slot)
            await self.ensure_network(app, release, slot)
            await self.remove_all(step.evict)
            await self._firewall.unblock(app.app_id, slot)  # the slot's address may still be drained
            container_id = step.adopt.container_id if step.adopt else await self.create(app, release, slot)
        except RolloutFailed as exc:
            await self.fail(app.app_id, release.release_id, exc.reason)
            return
        try:
            await self.start(app, release, slot, container_id)
            await self.await_ready(app, release, slot, container_id)
        except RolloutFailed as exc:
            await self.remove(container_id)
            await self.fail(app.app_id, release.release_id, exc.reason)
            return
        await self.let_proxy_switch(app, release, slot)
        await self.retire(app, release, step.retire)
        self._on_live()  # requested before ReleaseLive is out, so whoever sees the event sees the prune
        await self.go_live(app, release, slot, container_id, digest)

    async def confirm_live(self, step: ConfirmLive) -> None:
        app, release, container = step.app, step.release, step.container
        try:
            await self.await_ready(app, release, container.slot, container.container_id)
        except RolloutFailed as exc:
            await self.fail(app.app_id, release.release_id, exc.reason)
            return
        digest = await self.image_digest(release.image)
        await self._images.record(digest, app.app_id, release.image)
        await self.go_live(app, release, container.slot, container.container_id, digest)

    async def restore(self, step: Restore) -> None:
        async with self._images.using(step.release.image):
            await self._restore(step)

    async def _restore(self, step: Restore) -> None:
        app, release, slot = step.app, step.release, step.slot
        replaced = f" replacing {', '.join(c.name for c in step.evict)}" if step.evict else ""
        log.info("restoring live release %s%s", release.release_id, replaced, extra={"app_id": app.app_id})
        container_id = ""
        try:
            await self.resolve_image(app, release, slot)
            await self.ensure_network(app, release, slot)
            await self.remove_all(step.evict)
            await self._firewall.unblock(app.app_id, slot)
            container_id = await self.create(app, release, slot)
            await self.start(app, release, slot, container_id)
        except RolloutFailed as exc:
            # The release stays live (it is what the user asked for); the planner retries with
            # backoff and ends it crashed with this reason, never a failed deploy.
            self.start_failed(app.app_id, release.release_id, container_id, exc.reason)
            return
        self._memory.release_live(app.app_id, release.release_id)

    def start_failed(self, app_id: str, release_id: str, container_id: str, reason: str) -> None:
        """The engine refused to run the live release again: remember it and reconcile at once
        (the planner decides between a fresh container, a backoff and giving up)."""
        now = time.time()
        self._memory.start_failed(app_id, StartFailure(release_id, container_id, now, reason), now)
        log.warning("could not start the live release again: %s", reason, extra={"app_id": app_id})
        self._schedule_recheck(app_id, now)

    async def resolve_image(self, app: DesiredApp, release: DesiredRelease, slot: Slot) -> str:
        watch = Stopwatch()
        found = await self.inspect_image(release.image)
        digest = str(found.get("Id", "")) if found else ""
        detail, origin = digest, FOUND
        if release.build is not None and not builds.built_for(found, release.release_id):
            digest, origin = await self.build(app, release), BUILT
            detail = f"built from source in {watch.elapsed():.1f}s: {digest}"
        elif not digest and is_image_id(release.image):  # a re-run by id: nothing to pull it from
            raise RolloutFailed(gone_message(release.image, app.name, release.source_image, release.source_version))
        elif not digest:
            digest, origin = await self.pull(release.image, app.app_id, release.release_id, slot), PULLED
        await self._images.record(digest, app.app_id, release.image, origin)  # provenance decides pruning
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

    async def image_digest(self, image: str) -> str:
        found = await self.inspect_image(image)
        return str(found.get("Id", "")) if found else ""

    async def inspect_image(self, image: str) -> dict[str, Any] | None:
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
        digest = await self.image_digest(image)
        if not digest:
            raise RolloutFailed(f"image not found: {image}")
        return digest

    async def ensure_network(self, app: DesiredApp, release: DesiredRelease, slot: Slot) -> None:
        watch = Stopwatch()
        name = config.network_name(self._instance, app.app_id)
        existing = await self._docker.networks.list(filters={"name": [name]})
        if any(n.get("Name") == name for n in existing):
            detail = f"{name} {app.subnet} (existing)"
        else:
            await self.create_network(app, name)
            detail = f"{name} {app.subnet} (created)"
        await self._publish.step(
            app.app_id, release.release_id, "network.ready", slot=slot, detail=detail, duration_ms=watch.lap_ms()
        )

    async def create_network(self, app: DesiredApp, name: str) -> None:
        try:
            await self._docker.networks.create(config.network_config(app, self._instance))
        except aiodocker.DockerError as exc:
            raise_if_engine_down(exc)
            if exc.status == 409:  # created concurrently: fine
                return
            raise RolloutFailed(f"could not create network {name} on {app.subnet}: {exc.message}") from None

    async def create(self, app: DesiredApp, release: DesiredRelease, slot: Slot) -> str:
        watch = Stopwatch()
        name = config.container_name(self._instance, app.name, slot, release.release_id)
        body = config.container_config(app, release, slot, self._instance)
        try:
            container = await self._docker.containers.create(body, name=name)
            container_id = container.id
        except aiodocker.DockerError as exc:
            raise_if_engine_down(exc)
            if exc.status != 409:
                raise RolloutFailed(f"Docker refused to create the container: {exc.message}") from None
            container_id = (await self._docker.containers.get(name)).id  # a create that raced a restart
        await self._publish.step(
            app.app_id, release.release_id, "container.created", slot=slot, detail=name, duration_ms=watch.lap_ms()
        )
        return container_id

    async def start(self, app: DesiredApp, release: DesiredRelease, slot: Slot, container_id: str) -> None:
        watch = Stopwatch()
        container = self._docker.containers.container(container_id)
        if (await container.show())["State"].get("Running"):
            return
        try:
            await container.start()
        except aiodocker.DockerError as exc:
            raise_if_engine_down(exc)
            raise RolloutFailed(f"container failed to start: {exc.message}") from None
        detail = f"{slot_address(app.subnet, slot)}:{app.port}"
        await self._publish.step(
            app.app_id, release.release_id, "container.started", slot=slot, detail=detail, duration_ms=watch.lap_ms()
        )

    async def await_ready(self, app: DesiredApp, release: DesiredRelease, slot: Slot, container_id: str) -> None:
        probe = probe_for(app, slot_address(app.subnet, slot), release.deadline_seconds)
        url = probe.url
        try:
            took = await wait_ready(self._docker, container_id, probe)
        except NotReady as exc:
            raise RolloutFailed(exc.reason) from None
        await self._publish.step(
            app.app_id,
            release.release_id,
            "health.passed",
            slot=slot,
            detail=f"GET {url}",
            duration_ms=int(took * 1000),
        )

    async def let_proxy_switch(self, app: DesiredApp, release: DesiredRelease, slot: Slot) -> None:
        watch = Stopwatch()
        await asyncio.sleep(PROXY_SWITCH_SECONDS)
        detail = f"waited for the proxy's health check (every {ACTIVE_HEALTH_INTERVAL_SECONDS:g}s) to see slot {slot}"
        await self._publish.step(
            app.app_id, release.release_id, "proxy.switched", slot=slot, detail=detail, duration_ms=watch.lap_ms()
        )

    async def retire(self, app: DesiredApp, release: DesiredRelease, old: Iterable[ObservedContainer]) -> None:
        for container in old:
            try:
                await self.drain(app, release, container)
            finally:
                await self._firewall.end_drain(app.app_id, container.slot)

    async def drain(self, app: DesiredApp, release: DesiredRelease, container: ObservedContainer) -> None:
        """Refuse new connections to the old slot, let the proxy mark it down, then stop it:
        in-flight requests (established connections) go on until SIGTERM, then the stop timeout."""
        watch = Stopwatch()
        timeout = release.stop_timeout_seconds
        refused = ""
        if container.running:
            rule = DrainRule(
                instance=self._instance,
                app_id=app.app_id,
                slot=container.slot,
                address=slot_address(app.subnet, container.slot),
                port=container.port or app.port,
            )
            if await self._firewall.block(rule):
                await asyncio.sleep(PROXY_SWITCH_SECONDS)
                refused = f"new connections to {rule.address}:{rule.port} refused; "
        await self.stop(container.container_id, timeout)
        await self._publish.step(
            app.app_id,
            release.release_id,
            "old.drained",
            slot=container.slot,
            detail=f"{refused}{container.name} stopped (timeout {timeout}s)",
            duration_ms=watch.lap_ms(),
        )
        await self.remove(container.container_id)
        await self._publish.step(
            app.app_id,
            release.release_id,
            "old.stopped",
            slot=container.slot,
            detail=f"{container.name} removed",
            duration_ms=watch.lap_ms(),
        )

    async def go_live(
        self, app: DesiredApp, release: DesiredRelease, slot: Slot, container_id: str, digest: str
    ) -> None:
        self._memory.release_live(app.app_id, release.release_id)
        live = ReleaseLive(
            app_id=app.app_id, release_id=release.release_id, slot=slot, image_digest=digest, container_id=container_id
        )
        await self._publish.release_event("live", app.app_id, live)
        log.info("release %s is live in slot %s", release.release_id, slot, extra={"app_id": app.app_id})

    async def fail(self, app_id: str, release_id: str, reason: str) -> None:
        self._memory.release_failed(app_id, release_id)
        failed = ReleaseFailed(app_id=app_id, release_id=release_id, reason=reason)
        await self._publish.release_event("failed", app_id, failed)
        log.warning("release %s failed: %s", release_id, reason, extra={"app_id": app_id})

    # -- crashes ---------------------------------------------------------------------------
    async def restart(self, step: Restart) -> None:
        log.info("restarting dead container (attempt %d)", step.attempt, extra={"app_id": step.app_id})
        try:
            await self._docker.containers.container(step.container_id).start()
        except aiodocker.DockerError as exc:
            raise_if_engine_down(exc)
            if exc.status == 404 and not await self.exists(step.container_id):
                self._schedule_recheck(step.app_id, time.time())  # removed meanwhile: restore it
                return
            reason = f"container failed to start: {exc.message}"
            self.start_failed(step.app_id, step.release_id, step.container_id, reason)

    async def exists(self, container_id: str) -> bool:
        try:
            await self._docker.containers.container(container_id).show()
        except aiodocker.DockerError as exc:
            raise_if_engine_down(exc)
            if exc.status == 404:
                return False
            raise
        return True

    async def hard_restart(self, step: HardRestart) -> None:
        """``restart?hard=true``: ``docker restart`` with the release's stop timeout, then readiness."""
        app, release, container = step.app, step.release, step.container
        log.info("restarting %s in place", container.name, extra={"app_id": app.app_id})
        watch = Stopwatch()
        if container.running:
            self._expected_stops.add(container.container_id)  # its death is asked for, not a crash
        try:
            await self._docker.containers.container(container.container_id).restart(t=release.stop_timeout_seconds)
        except aiodocker.DockerError as exc:
            raise_if_engine_down(exc)
            self._expected_stops.discard(container.container_id)
            log.warning("restart in place refused: %s", exc.message, extra={"app_id": app.app_id})
            return
        probe = probe_for(app, slot_address(app.subnet, container.slot), release.deadline_seconds)
        url = probe.url
        try:
            await wait_ready(self._docker, container.container_id, probe)
            detail = f"{container.name} restarted in place (timeout {release.stop_timeout_seconds}s); ready: GET {url}"
        except NotReady as exc:
            detail = f"{container.name} restarted in place; not ready: {exc.reason}"
            log.warning("restarted in place but not ready: %s", exc.reason, extra={"app_id": app.app_id})
        await self._publish.step(
            app.app_id,
            release.release_id,
            "container.restarted",
            slot=container.slot,
            detail=detail,
            duration_ms=watch.lap_ms(),
        )

    async def give_up(self, step: GiveUp) -> None:
        self._memory.gave_up(step.app_id, step.release_id)
        crashed = AppCrashed(
            app_id=step.app_id,
            release_id=step.release_id,
            exit_code=step.exit_code,
            restarts=step.restarts,
            reason=step.reason,
        )
        await self._publish.release_event("crashed", step.app_id, crashed)
        log.warning(
            "gave up restarting after %d restarts%s",
            step.restarts,
            f": {step.reason}" if step.reason else "",
            extra={"app_id": step.app_id},
        )

    # -- removal ---------------------------------------------------------------------------
    async def clean_up(self, step: CleanUp) -> None:
        await self.remove_all(step.containers)
        await self.remove_networks(step.networks)
        await self._firewall.unblock(step.app_id)
        await self._images.forget_app(step.app_id)
        if self._on_cleaned_up is not None:
            await self._on_cleaned_up(step.app_id)
        self._memory.cleaned_up(step.app_id)
        await self._publish.release_event("cleaned_up", step.app_id, AppCleanedUp(app_id=step.app_id, host=self._host))
        log.info("cleaned up", extra={"app_id": step.app_id})

    async def remove_all(self, containers: Iterable[ObservedContainer]) -> None:
        for container in containers:
            await self.remove(container.container_id)

    async def stop(self, container_id: str, timeout: int) -> None:
        self._expected_stops.add(container_id)
        await self._ignore_missing(self._docker.containers.container(container_id).stop(t=timeout))

    async def remove(self, container_id: str) -> None:
        self._expected_stops.add(container_id)
        if self._before_remove is not None:  # its last log lines are read before they are gone
            try:
                await self._before_remove(container_id)
            except Exception as exc:
                raise_if_engine_down(exc)
                log.warning("reading the last log lines of %s failed: %s", container_id[:12], exc)
        await self._ignore_missing(self._docker.containers.container(container_id).delete(force=True))

    async def remove_networks(self, networks: Iterable[ObservedNetwork]) -> None:
        for network in networks:
            await self._ignore_missing(self.delete_network(network.network_id))

    async def delete_network(self, network_id: str) -> None:
        network = await self._docker.networks.get(network_id)
        await network.delete()

    @staticmethod
    async def _ignore_missing(operation: Awaitable[object]) -> None:
        try:
            await operation
        except aiodocker.DockerError as exc:
            if exc.status not in (304, 404):  # already stopped / already gone
                raise
