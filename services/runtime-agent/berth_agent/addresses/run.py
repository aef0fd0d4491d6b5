"""Hands out the addresses of apps' shared ranges, one app at a time (ADR 0026 §2).

``async with addresses.reserve(app_id, subnet) as address:`` picks the lowest free address of the
app's shared range under the app's lock and holds it in memory until the block ends; the block
creates the container with that address in its endpoint config and its ``berth.address`` label,
after which the label holds it. The taken set is read from the app's containers on every pick,
so it is right after an agent restart and after containers were removed by anyone. When the range
is full the pick waits for an address up to ``wait_seconds`` and then fails with
:class:`NoFreeAddress`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from collections.abc import AsyncIterator

import aiodocker
from berth_shared import labels

from berth_agent.addresses.decide import choose, labelled_addresses
from berth_agent.rollout import RolloutFailed

WAIT_SECONDS = 30.0
POLL_SECONDS = 0.25


class NoFreeAddress(RolloutFailed):
    """Every address of the app's shared range is held, and none came free in time."""

    def __init__(self, subnet: str, waited: float) -> None:
        super().__init__(f"no free address in {subnet} (waited {waited:.0f} s)")


class Addresses:
    def __init__(self, docker: aiodocker.Docker, instance: str) -> None:
        self._docker = docker
        self._instance = instance
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._pending: defaultdict[str, set[str]] = defaultdict(set)

    async def labelled(self, app_id: str) -> frozenset[str]:
        """The addresses the app's containers (of this instance, in any state) carry."""
        filters = [*labels.instance_filter(self._instance), f"{labels.APP}={app_id}"]
        listed = await self._docker.containers.list(all=True, filters=json.dumps({"label": filters}))
        return labelled_addresses(dict(c["Labels"] or {}) for c in listed)

    async def pick(self, app_id: str, subnet: str) -> str | None:
        """Take the lowest free address now (held until :meth:`free`), or None when there is none."""
        async with self._locks[app_id]:
            address = choose(subnet, await self.labelled(app_id), self._pending[app_id])
            if address is not None:
                self._pending[app_id].add(address)
            return address

    def free(self, app_id: str, address: str) -> None:
        """Stop holding ``address`` in memory (its container now holds it by label, or was never made)."""
        self._pending[app_id].discard(address)
        if not self._pending[app_id]:
            self._pending.pop(app_id, None)

    async def take(self, app_id: str, subnet: str, wait_seconds: float = WAIT_SECONDS) -> str:
        """An address, waiting up to ``wait_seconds`` for one to come free."""
        started = time.monotonic()
        while (address := await self.pick(app_id, subnet)) is None:
            waited = time.monotonic() - started
            if waited >= wait_seconds:
                raise NoFreeAddress(subnet, waited)
            await asyncio.sleep(min(POLL_SECONDS, wait_seconds - waited))
        return address

    @contextlib.asynccontextmanager
    async def reserve(self, app_id: str, subnet: str, wait_seconds: float = WAIT_SECONDS) -> AsyncIterator[str]:
        """An address held for the block: create the container carrying it inside."""
        address = await self.take(app_id, subnet, wait_seconds)
        try:
            yield address
        finally:
            self.free(app_id, address)
