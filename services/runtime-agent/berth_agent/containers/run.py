"""Carries out container and network operations for a rollout against Docker and reports each
one as a ``ReleaseStep``: network ready, container created/started, the deploy gate passed; stops
and removals (marked as expected deaths, the last log lines read first).

Decisions (names, create bodies) are :mod:`berth_agent.containers.decide`'s; the gate is
:mod:`berth_agent.containers.run_ready`. Engine connection errors propagate; Docker refusing a
step raises :class:`~berth_agent.rollout.RolloutFailed`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Iterable
from typing import Protocol

import aiodocker
from berth_shared.contracts.desired import DesiredApp, DesiredRelease
from berth_shared.netplan import Slot, slot_address

from berth_agent.containers import decide as config
from berth_agent.containers.run_ready import NotReady, probe_for, wait_ready
from berth_agent.engine import raise_if_engine_down
from berth_agent.memory import MemoryStore
from berth_agent.publisher import Publisher
from berth_agent.rollout import RolloutFailed, Stopwatch
from berth_agent.state import ObservedContainer, ObservedNetwork

log = logging.getLogger("berth.agent.containers")


class LastLines(Protocol):
    """Reads a container's log to its end before the container is removed (the log collectors)."""

    async def before_remove(self, container_id: str) -> None: ...


class Containers:
    def __init__(
        self,
        docker: aiodocker.Docker,
        *,
        instance: str,
        publisher: Publisher,
        memory: MemoryStore,
        last_lines: LastLines | None = None,
    ) -> None:
        self._docker = docker
        self._instance = instance
        self._publish = publisher
        self._memory = memory
        self._last_lines = last_lines
        self._told_neighbours = False

    # -- networks ------------------------------------------------------------------------
    async def ensure_network(self, app: DesiredApp, release: DesiredRelease, slot: Slot) -> None:
        watch = Stopwatch()
        name = config.network_name(self._instance, app.app_id)
        existing = [n for n in await self._docker.networks.list(filters={"name": [name]}) if n.get("Name") == name]
        if existing:
            network_id: str | None = str(existing[0].get("Id", ""))
            detail = f"{name} {app.subnet} (existing)"
        else:
            network_id = await self.create_network(app, name)
            detail = f"{name} {app.subnet} (created)"
        if network_id:
            self._quick_neighbours(network_id)
        await self._publish.step(
            app.app_id, release.release_id, "network.ready", slot=slot, detail=detail, duration_ms=watch.lap_ms()
        )

    async def create_network(self, app: DesiredApp, name: str) -> str | None:
        """Create the app's network; its id (None when it was created concurrently)."""
        try:
            network = await self._docker.networks.create(config.network_config(app, self._instance))
        except aiodocker.DockerError as exc:
            raise_if_engine_down(exc)
            if exc.status == 409:  # created concurrently: fine
                return None
            raise RolloutFailed(f"could not create network {name} on {app.subnet}: {exc.message}") from None
        return str(network.id)

    def _quick_neighbours(self, network_id: str) -> None:
        """Best effort (needs root): the host re-asks for unresolved slot addresses on the app's
        bridge every 100 ms, so a slot dialled before it was up is reached soon after it is."""
        path, value = config.neighbour_retrans_setting(network_id)
        try:
            with open(path, "w") as setting:
                setting.write(value)
        except OSError as exc:
            if not self._told_neighbours:
                self._told_neighbours = True
                log.info("cannot shorten ARP retries on app bridges (%s): a first deploy's gate may wait ~1 s", exc)

    async def remove_networks(self, networks: Iterable[ObservedNetwork]) -> None:
        for network in networks:
            await ignore_missing(self.delete_network(network.network_id))

    async def delete_network(self, network_id: str) -> None:
        network = await self._docker.networks.get(network_id)
        await network.delete()

    # -- one container -------------------------------------------------------------------
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

    async def exists(self, container_id: str) -> bool:
        try:
            await self._docker.containers.container(container_id).show()
        except aiodocker.DockerError as exc:
            raise_if_engine_down(exc)
            if exc.status == 404:
                return False
            raise
        return True

    async def stop(self, container_id: str, timeout: int) -> None:
        self._memory.expect_stop(container_id)
        await ignore_missing(self._docker.containers.container(container_id).stop(t=timeout))

    async def remove(self, container_id: str) -> None:
        self._memory.expect_stop(container_id)
        if self._last_lines is not None:  # its last log lines are read before they are gone
            try:
                await self._last_lines.before_remove(container_id)
            except Exception as exc:
                raise_if_engine_down(exc)
                log.warning("reading the last log lines of %s failed: %s", container_id[:12], exc)
        await ignore_missing(self._docker.containers.container(container_id).delete(force=True))

    async def remove_all(self, containers: Iterable[ObservedContainer]) -> None:
        for container in containers:
            await self.remove(container.container_id)


async def ignore_missing(operation: Awaitable[object]) -> None:
    try:
        await operation
    except aiodocker.DockerError as exc:
        if exc.status not in (304, 404):  # already stopped / already gone
            raise
