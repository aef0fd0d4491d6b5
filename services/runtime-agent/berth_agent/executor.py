"""Carries out the planner's steps and reports the outcomes on the bus.

Thin on purpose: every decision was made by the planner; the executor sequences the concerns that
do the I/O (:class:`~berth_agent.images.run_resolve.ImageResolver`,
:class:`~berth_agent.containers.run.Containers`, :class:`~berth_agent.proxy.run.ProxySwitch`,
:class:`~berth_agent.drain.run.Drain`), publishes the outcome events and records outcomes in the
agent's memory. A flip is ``live`` once the proxy sends every new request to the new slot; the
old slot's drain and stop follow as the release's next steps, still under the app's lock, so the
app's next flip waits for them (ADR 0025). What it needs from the reconcile
loop is the small :class:`Loop` interface. Engine connection errors propagate (the caller naks the
command); Docker refusing a rollout fails the release.
"""

from __future__ import annotations

import logging
import time
from typing import Protocol

import aiodocker
from berth_shared.contracts.desired import DesiredApp, DesiredRelease
from berth_shared.contracts.releases import AppCleanedUp, AppCrashed, ReleaseFailed, ReleaseLive
from berth_shared.netplan import Slot, slot_address

from berth_agent.addresses.run import Addresses
from berth_agent.containers.run import Containers
from berth_agent.containers.run_ready import NotReady, probe_for, wait_ready
from berth_agent.drain.run import Drain, Firewall
from berth_agent.engine import raise_if_engine_down
from berth_agent.images.run_resolve import ImageResolver
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
    Scale,
    Step,
    Unserved,
)
from berth_agent.processes.run import Made, ProcessInstances, made_of, web_addresses
from berth_agent.proxy.decide import scale_switch
from berth_agent.proxy.run import ProxySwitch
from berth_agent.publisher import Publisher
from berth_agent.release_command.run import ReleaseCommands
from berth_agent.rollout import RolloutFailed, Stopwatch
from berth_agent.state import ObservedContainer, StartFailure

log = logging.getLogger("berth.agent.executor")


class Loop(Protocol):
    """What the executor asks of the reconcile loop."""

    def schedule_recheck(self, app_id: str, at: float) -> None:
        """Reconcile ``app_id`` again at ``at`` (epoch seconds)."""

    def request_prune(self) -> None:
        """A rollout went live and retired the old slot: prune images soon."""

    async def cleaned_up(self, app_id: str) -> None:
        """``app_id`` was deleted and its containers and network removed."""


class Executor:
    def __init__(
        self,
        docker: aiodocker.Docker,
        *,
        host: str,
        publisher: Publisher,
        memory: MemoryStore,
        images: ImageResolver,
        containers: Containers,
        firewall: Firewall,
        switch: ProxySwitch,
        loop: Loop,
        addresses: Addresses | None = None,
        instance: str = "",
    ) -> None:
        self._docker = docker
        self._host = host
        self._publish = publisher
        self._memory = memory
        self._images = images
        self._containers = containers
        self._firewall = firewall
        self._switch = switch
        self._drain = Drain(firewall, containers, publisher)
        self._loop = loop
        addresses = addresses or Addresses(docker, instance)
        self._processes = ProcessInstances(
            docker, instance=instance, containers=containers, addresses=addresses, publisher=publisher
        )
        self._release_commands = ReleaseCommands(
            docker, instance=instance, containers=containers, addresses=addresses, publisher=publisher
        )

    async def run(self, step: Step) -> None:
        match step:
            case Deploy():
                await self.deploy(step)
            case Scale():
                await self.scale(step)
            case ConfirmLive():
                await self.confirm_live(step)
            case Unserved():
                await self._switch.unserved(step.app, step.release, step.slot)
            case Restore():
                await self.restore(step)
            case Restart():
                await self.restart(step)
            case RecheckAt():
                self._loop.schedule_recheck(step.app_id, step.at)
            case GiveUp():
                await self.give_up(step)
            case RemoveContainers():
                await self._containers.remove_all(step.containers)
            case CleanUp():
                await self.clean_up(step)

    # -- rollouts ------------------------------------------------------------------------
    async def deploy(self, step: Deploy) -> None:
        async with self._images.using(step.release.image):
            if step.formation:
                await self._deploy_formation(step)
            else:
                await self._deploy(step)

    async def _deploy_formation(self, step: Deploy) -> None:
        """ADR 0026 §1: release command, every new instance (web in the free slot, the others
        beside the old ones), each gated, one switch naming every web address, then the old
        instances retired (web drained, the others stopped). A failure before the switch
        removes every new container; the old release runs on untouched."""
        app, release, slot = step.app, step.release, step.slot
        log.info("deploying %s (formation) in slot %s", release.release_id, slot, extra={"app_id": app.app_id})
        made: list[Made] = [made_of(app, c) for c in (*((step.adopt,) if step.adopt else ()), *step.adopted)]
        try:
            digest = await self._images.resolve(app, release, slot)
            await self._containers.ensure_network(app, release, slot)
            await self._containers.remove_all(step.evict)
            if step.web:
                await self._firewall.unblock(app.app_id, slot, slot_address(app.subnet, slot))
            if step.release_command:
                await self._release_commands.run(app, release)
            for wanted in step.instances:
                made.append(await self._processes.create(app, release, slot, wanted))
            await self._processes.start_and_gate(app, release, slot, made)
            addresses = web_addresses(made)
            if addresses:
                await self._switch.switch(app, release, slot, addresses)
            elif not step.web:  # worker-only: the proxy answers the 503 page at once
                await self._switch.switch(app, release, slot, no_instances=True)
        except RolloutFailed as exc:
            for instance in made:
                await self._containers.remove(instance.container_id)
            await self.fail(app.app_id, release.release_id, exc.reason)
            return
        web0 = next((m.container_id for m in made if m.web and m.index == 0), "")
        await self.go_live(app, release, slot, web0, digest, addresses=addresses, no_instances=not step.web)
        await self.retire(app, release, step.retire)
        self._loop.request_prune()

    async def retire(self, app: DesiredApp, release: DesiredRelease, old: tuple[ObservedContainer, ...]) -> None:
        """Old web instances drained and stopped (ADR 0025), then every other old instance stopped."""
        await self._drain.retire(app, release, [c for c in old if c.process == "web"])
        for container in old:
            if container.process != "web":
                await self._processes.stop_old(app, release, container)

    async def scale(self, step: Scale) -> None:
        """The live release with other counts (ADR 0026 §1): new instances started and gated,
        the slot switched with the new web addresses, removed instances stopped after it."""
        app, release, slot = step.app, step.release, step.slot
        watch = Stopwatch()
        made: list[Made] = []
        dead = tuple(c for c in step.stop if not c.running)  # nothing to drain; a new one may need its name
        await self._containers.remove_all(dead)
        stop = tuple(c for c in step.stop if c.running)
        try:
            for wanted in step.start:
                made.append(await self._processes.create(app, release, slot, wanted))
            await self._processes.start_and_gate(app, release, slot, made)
        except RolloutFailed as exc:
            for instance in made:
                await self._containers.remove(instance.container_id)
            log.warning("scale of %s failed: %s", release.release_id, exc.reason, extra={"app_id": app.app_id})
            await self._publish.step(app.app_id, release.release_id, "process.scaled", detail=f"failed: {exc.reason}")
            return
        kept = [made_of(app, c) for c in step.keep]
        before = web_addresses([*kept, *(made_of(app, c) for c in step.stop if c.running)])
        after = web_addresses([*kept, *made])
        proxy = scale_switch(before, after)
        if proxy.switch:
            # Before any removed web instance is drained: the router answers the new set (and the
            # agent waits what the proxy may still hold of the old one), so a removed instance
            # gets no new request and an added one gets its share at once.
            try:
                await self._switch.switch(app, release, slot, proxy.addresses, no_instances=proxy.no_instances)
            except RolloutFailed as exc:
                log.warning("scale not switched: %s", exc.reason, extra={"app_id": app.app_id})
        if proxy.announce:
            web0 = next((m.container_id for m in [*kept, *made] if m.web and m.index == 0), "")
            await self.announce(app, release, slot, web0, proxy.addresses, no_instances=proxy.no_instances)
        await self.retire(app, release, stop)
        counts: dict[str, int] = {}
        for instance in [*kept, *made]:
            counts[instance.process] = counts.get(instance.process, 0) + 1
        detail = ", ".join(f"{name}={count}" for name, count in sorted(counts.items()))
        await self._publish.step(
            app.app_id, release.release_id, "process.scaled", detail=detail, duration_ms=watch.lap_ms()
        )
        if after != before or not self._memory.of(app.app_id).live_release:
            self._memory.release_live(app.app_id, release.release_id)

    async def _deploy(self, step: Deploy) -> None:
        app, release, slot = step.app, step.release, step.slot
        log.info("deploying %s in slot %s", release.release_id, slot, extra={"app_id": app.app_id})
        containers = self._containers
        try:
            digest = await self._images.resolve(app, release, slot)
            await containers.ensure_network(app, release, slot)
            await containers.remove_all(step.evict)
            # The slot's address may still be drained (by this agent, or by a platform that died).
            await self._firewall.unblock(app.app_id, slot, slot_address(app.subnet, slot))
            container_id = step.adopt.container_id if step.adopt else await containers.create(app, release, slot)
        except RolloutFailed as exc:
            await self.fail(app.app_id, release.release_id, exc.reason)
            return
        try:
            await containers.start(app, release, slot, container_id)
            await containers.await_ready(app, release, slot, container_id)
            await self._switch.switch(app, release, slot)
        except RolloutFailed as exc:
            await containers.remove(container_id)
            await self.fail(app.app_id, release.release_id, exc.reason)
            return
        await self.go_live(app, release, slot, container_id, digest)
        await self._drain.retire(app, release, step.retire)
        self._loop.request_prune()  # once the old slot is gone: its image is no longer in use

    async def confirm_live(self, step: ConfirmLive) -> None:
        app, release, container = step.app, step.release, step.container
        try:
            await self._containers.await_ready(app, release, container.slot, container.container_id)
            await self._switch.switch(app, release, container.slot)
        except RolloutFailed as exc:
            await self.fail(app.app_id, release.release_id, exc.reason)
            return
        digest = await self._images.digest(release.image)
        await self._images.record(digest, app.app_id, release.image)
        await self.go_live(app, release, container.slot, container.container_id, digest)

    async def restore(self, step: Restore) -> None:
        async with self._images.using(step.release.image):
            await self._restore(step)

    async def _restore(self, step: Restore) -> None:
        app, release, slot = step.app, step.release, step.slot
        replaced = f" replacing {', '.join(c.name for c in step.evict)}" if step.evict else ""
        log.info("restoring live release %s%s", release.release_id, replaced, extra={"app_id": app.app_id})
        containers = self._containers
        container_id = ""
        try:
            await self._images.resolve(app, release, slot)
            await containers.ensure_network(app, release, slot)
            await containers.remove_all(step.evict)
            await self._firewall.unblock(app.app_id, slot, slot_address(app.subnet, slot))
            container_id = await containers.create(app, release, slot)
            await containers.start(app, release, slot, container_id)
        except RolloutFailed as exc:
            # The release stays live (it is what the user asked for); the planner retries with
            # backoff and ends it crashed with this reason, never a failed deploy.
            self.start_failed(app.app_id, release.release_id, container_id, exc.reason)
            return
        await self._switch.restored(app, release, slot)
        self._memory.release_live(app.app_id, release.release_id)

    def start_failed(self, app_id: str, release_id: str, container_id: str, reason: str) -> None:
        """The engine refused to run the live release again: remember it and reconcile at once
        (the planner decides between a fresh container, a backoff and giving up)."""
        now = time.time()
        self._memory.start_failed(app_id, StartFailure(release_id, container_id, now, reason), now)
        log.warning("could not start the live release again: %s", reason, extra={"app_id": app_id})
        self._loop.schedule_recheck(app_id, now)

    async def go_live(
        self,
        app: DesiredApp,
        release: DesiredRelease,
        slot: Slot,
        container_id: str,
        digest: str,
        *,
        addresses: tuple[str, ...] = (),
        no_instances: bool = False,
    ) -> None:
        self._memory.release_live(app.app_id, release.release_id)
        await self.announce(app, release, slot, container_id, addresses, digest=digest, no_instances=no_instances)
        log.info("release %s is live in slot %s", release.release_id, slot, extra={"app_id": app.app_id})

    async def announce(
        self,
        app: DesiredApp,
        release: DesiredRelease,
        slot: Slot,
        container_id: str,
        addresses: tuple[str, ...],
        *,
        digest: str = "",
        no_instances: bool = False,
    ) -> None:
        """``ReleaseLive``: the release went live, or (a scale) the live release serves at other
        web addresses, or none — then the API records them and the health service checks every
        instance (none at web 0), neither treating it as a new deploy."""
        live = ReleaseLive(
            app_id=app.app_id,
            release_id=release.release_id,
            slot=slot,
            image_digest=digest,
            container_id=container_id,
            addresses=list(addresses),
            no_instances=no_instances,
        )
        await self._publish.release_event("live", app.app_id, live)

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
            if exc.status == 404 and not await self._containers.exists(step.container_id):
                self._loop.schedule_recheck(step.app_id, time.time())  # removed meanwhile: restore it
                return
            reason = f"container failed to start: {exc.message}"
            self.start_failed(step.app_id, step.release_id, step.container_id, reason)

    async def hard_restart(self, step: HardRestart) -> None:
        """``restart?hard=true``: ``docker restart`` with the release's stop timeout, then readiness."""
        app, release, container = step.app, step.release, step.container
        log.info("restarting %s in place", container.name, extra={"app_id": app.app_id})
        watch = Stopwatch()
        if container.running:
            self._memory.expect_stop(container.container_id)  # its death is asked for, not a crash
        try:
            await self._docker.containers.container(container.container_id).restart(t=release.stop_timeout_seconds)
        except aiodocker.DockerError as exc:
            raise_if_engine_down(exc)
            self._memory.stop_not_expected(container.container_id)
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
        self._memory.gave_up(step.app_id, step.release_id, step.process)
        crashed = AppCrashed(
            app_id=step.app_id,
            release_id=step.release_id,
            exit_code=step.exit_code,
            restarts=step.restarts,
            reason=step.reason,
            process=step.process,
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
        await self._containers.remove_all(step.containers)
        await self._containers.remove_networks(step.networks)
        await self._firewall.unblock(step.app_id)
        await self._images.forget_app(step.app_id)
        await self._loop.cleaned_up(step.app_id)
        self._memory.cleaned_up(step.app_id)
        await self._publish.release_event("cleaned_up", step.app_id, AppCleanedUp(app_id=step.app_id, host=self._host))
        log.info("cleaned up", extra={"app_id": step.app_id})
