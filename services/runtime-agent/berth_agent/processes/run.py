"""Instances of process types (ADR 0026 §1): created with their own identity and address,
started, gated (web over HTTP at its address, the others by staying up for ``UP_SECONDS``),
and old non-web instances stopped with the release's stop timeout.

Decisions are the planner's (:class:`~berth_agent.planner.Instance`) and the config builders'
(:func:`~berth_agent.containers.decide.instance_config`); addresses come from
:class:`~berth_agent.addresses.run.Addresses`. Docker refusing a step raises
:class:`~berth_agent.rollout.RolloutFailed`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiodocker
from berth_shared.contracts.desired import DesiredApp, DesiredRelease
from berth_shared.contracts.processes import WEB
from berth_shared.netplan import Slot, slot_address

from berth_agent.addresses.run import Addresses
from berth_agent.containers import decide as config
from berth_agent.containers.run import Containers
from berth_agent.containers.run_ready import NotReady, exit_reason, probe_for, wait_ready
from berth_agent.engine import raise_if_engine_down
from berth_agent.planner import Instance
from berth_agent.publisher import Publisher
from berth_agent.rollout import RolloutFailed, Stopwatch
from berth_agent.state import ObservedContainer

# A process that is not web is ready once it stayed up this long (start-new-then-stop-old).
UP_SECONDS = 2.0
UP_POLL_SECONDS = 0.1


@dataclass(frozen=True)
class Made:
    """An instance of the release on this host: created now or found from before."""

    container_id: str
    process: str
    index: int
    address: str

    @property
    def web(self) -> bool:
        return self.process == WEB


def made_of(app: DesiredApp, container: ObservedContainer) -> Made:
    address = container.address or slot_address(app.subnet, container.slot)
    return Made(container.container_id, container.process, container.index, address)


def web_addresses(made: list[Made]) -> tuple[str, ...]:
    """The web instances' addresses in instance order (what the router answers)."""
    return tuple(m.address for m in sorted(made, key=lambda m: m.index) if m.web)


class ProcessInstances:
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

    async def create(self, app: DesiredApp, release: DesiredRelease, slot: Slot, wanted: Instance) -> Made:
        if wanted.fixed:
            return await self._create(app, release, slot, wanted, slot_address(app.subnet, slot))
        async with self._addresses.reserve(app.app_id, app.subnet) as address:
            return await self._create(app, release, slot, wanted, address)

    async def _create(
        self, app: DesiredApp, release: DesiredRelease, slot: Slot, wanted: Instance, address: str
    ) -> Made:
        watch = Stopwatch()
        name = config.instance_name(
            self._instance, app.name, slot, release.release_id, process=wanted.process, index=wanted.index
        )
        body = config.instance_config(
            app, release, slot, self._instance, spec=wanted.spec, index=wanted.index, address=address
        )
        try:
            container_id = (await self._docker.containers.create(body, name=name)).id
        except aiodocker.DockerError as exc:
            raise_if_engine_down(exc)
            if exc.status != 409:
                raise RolloutFailed(
                    f"Docker refused to create {wanted.process}.{wanted.index}: {exc.message}"
                ) from None
            container_id = (await self._docker.containers.get(name)).id
        await self._publish.step(
            app.app_id,
            release.release_id,
            "container.created",
            slot=slot,
            detail=f"{name} at {address}",
            duration_ms=watch.lap_ms(),
            process=wanted.process,
            instance=wanted.index,
        )
        return Made(container_id, wanted.process, wanted.index, address)

    async def start_and_gate(self, app: DesiredApp, release: DesiredRelease, slot: Slot, made: list[Made]) -> None:
        """Start every instance, then wait until each is ready (all at once); the first failure fails."""
        for instance in made:
            await self._start(app, release, slot, instance)
        await asyncio.gather(*(self._gate(app, release, slot, m) for m in made))

    async def _start(self, app: DesiredApp, release: DesiredRelease, slot: Slot, made: Made) -> None:
        watch = Stopwatch()
        container = self._docker.containers.container(made.container_id)
        if (await container.show())["State"].get("Running"):
            return
        try:
            await container.start()
        except aiodocker.DockerError as exc:
            raise_if_engine_down(exc)
            raise RolloutFailed(f"{made.process}.{made.index} failed to start: {exc.message}") from None
        detail = f"{made.address}:{app.port}" if made.web else made.address
        await self._publish.step(
            app.app_id,
            release.release_id,
            "container.started",
            slot=slot,
            detail=detail,
            duration_ms=watch.lap_ms(),
            process=made.process,
            instance=made.index,
        )

    async def _gate(self, app: DesiredApp, release: DesiredRelease, slot: Slot, made: Made) -> None:
        if made.web:
            probe = probe_for(app, made.address, release.deadline_seconds)
            try:
                took = await wait_ready(self._docker, made.container_id, probe)
            except NotReady as exc:
                raise RolloutFailed(f"web.{made.index}: {exc.reason}") from None
            step, detail = "health.passed", f"GET {probe.url}"
        else:
            took = await self.stays_up(made)
            step, detail = "process.ready", f"{made.process}.{made.index} stayed up for {UP_SECONDS:g}s"
        await self._publish.step(
            app.app_id,
            release.release_id,
            step,
            slot=slot,
            detail=detail,
            duration_ms=int(took * 1000),
            process=made.process,
            instance=made.index,
        )

    async def stays_up(self, made: Made) -> float:
        """Wait until the container has run for :data:`UP_SECONDS`; RolloutFailed when it exits."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            state = (await self._docker.containers.container(made.container_id).show())["State"]
            if not state.get("Running"):
                raise RolloutFailed(
                    f"{made.process}.{made.index}: {exit_reason(state)} before it was up {UP_SECONDS:g}s"
                )
            elapsed = loop.time() - started
            if elapsed >= UP_SECONDS:
                return elapsed
            await asyncio.sleep(min(UP_POLL_SECONDS, UP_SECONDS - elapsed))

    async def stop_old(self, app: DesiredApp, release: DesiredRelease, old: ObservedContainer) -> None:
        """Stop an old instance of a process that is not web (SIGTERM, the stop timeout, SIGKILL),
        remove it and say so as the release's ``old.stopped`` step of that process."""
        watch = Stopwatch()
        timeout = release.stop_timeout_seconds
        await self._containers.stop(old.container_id, timeout)
        await self._containers.remove(old.container_id)
        await self._publish.step(
            app.app_id,
            release.release_id,
            "old.stopped",
            detail=f"{old.name} stopped (timeout {timeout}s) and removed",
            duration_ms=watch.lap_ms(),
            process=old.process,
            instance=old.index,
        )
