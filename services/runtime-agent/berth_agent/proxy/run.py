"""Has the router send an app's new requests to a slot (ADR 0025) and reports it as the release's
``proxy.switched`` step once every request that starts from then on goes there: the router's
confirmation (its slot DNS serves the new answer) plus what is left of the proxy's refresh bound
for an earlier answer it may hold (none when it looked the app up longer ago: a first deploy, an
idle app).

The router may be restarting: the request is repeated until ``SWITCH_DEADLINE_SECONDS``; then
the rollout fails and the previous slot stays what the agent says serves (the router's resync
reads it, ``responders/slots.py``), and the router is asked once to switch back.
"""

from __future__ import annotations

import asyncio
import logging

import nats.errors
from berth_shared import bus
from berth_shared.contracts.desired import DesiredApp, DesiredRelease
from berth_shared.contracts.slots import SLOT_SWITCH, SlotSwitched, SwitchSlot
from berth_shared.errors import BerthError
from berth_shared.netplan import Slot
from berth_shared.proxy_timing import SWITCH_DEADLINE_SECONDS, UPSTREAM_REFRESH_SECONDS
from nats.aio.client import Client

from berth_agent.memory import MemoryStore
from berth_agent.publisher import Publisher
from berth_agent.rollout import RolloutFailed, Stopwatch
from berth_agent.state import Serving

log = logging.getLogger("berth.agent.proxy")

ATTEMPT_SECONDS = 2.0
RETRY_SECONDS = 0.2


def settle_seconds(confirmed: SlotSwitched) -> float:
    """How long to wait after the router's confirmation until no request can go by an earlier
    answer: what the router says the proxy may still hold, else the whole refresh bound."""
    if confirmed.stale_for_seconds is None:
        return UPSTREAM_REFRESH_SECONDS
    return min(UPSTREAM_REFRESH_SECONDS, max(0.0, confirmed.stale_for_seconds))


class NotSwitched(Exception):
    """The router did not confirm the switch in time; ``reason`` says what it answered last."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ProxySwitch:
    def __init__(
        self, nc: Client, publisher: Publisher, memory: MemoryStore, *, deadline: float = SWITCH_DEADLINE_SECONDS
    ) -> None:
        self._nc = nc
        self._publish = publisher
        self._memory = memory
        self._deadline = deadline

    async def switch(
        self,
        app: DesiredApp,
        release: DesiredRelease,
        slot: Slot,
        addresses: tuple[str, ...] = (),
        *,
        no_instances: bool = False,
    ) -> None:
        """Switch ``app`` to ``slot`` (its web instances at ``addresses``; none: the slot's fixed
        address; ``no_instances``: web is at 0, the proxy answers the 503 page at once); raises
        :class:`RolloutFailed` when the router never confirms."""
        watch = Stopwatch()
        previous = self._memory.of(app.app_id).serving
        self._memory.serving(app.app_id, Serving(release.release_id, slot, addresses, no_instances))
        try:
            confirmed = await self.ask(
                app.app_id, release.release_id, slot, self._deadline, addresses, no_instances=no_instances
            )
        except NotSwitched as exc:
            self._memory.serving(app.app_id, previous)
            await self.switch_back(app.app_id, previous)
            raise RolloutFailed(
                f"the router did not switch the proxy to slot {slot} within {self._deadline:g}s ({exc.reason})"
            ) from None
        confirmed_ms = watch.lap_ms()
        stale = settle_seconds(confirmed)
        await asyncio.sleep(stale)  # an answer the proxy looked up just before is used up
        held = (
            f"waited {round(stale * 1000)} ms for the proxy's earlier answer to expire"
            if stale
            else "no earlier answer held"
        )
        if no_instances:
            serves, goes = "no web instance", "the proxy answers every request from now on with the app's 503 page"
        else:
            serves = f"slot {slot} at {', '.join(addresses)}" if addresses else f"slot {slot}"
            goes = "every request from now on goes there (the proxy looks it up at most every "
            goes += f"{UPSTREAM_REFRESH_SECONDS:g}s)"
        detail = f"the router serves {serves} (confirmed in {confirmed_ms} ms; {held}); {goes}"
        await self._publish.step(
            app.app_id,
            release.release_id,
            "proxy.switched",
            slot=slot,
            detail=detail,
            duration_ms=confirmed_ms + watch.lap_ms(),
        )

    async def restored(self, app: DesiredApp, release: DesiredRelease, slot: Slot) -> None:
        """The live release runs again in ``slot`` (a restore): the router serves it, best effort
        (an unanswered request is repaired by the router's resync from what this agent serves)."""
        self._memory.serving(app.app_id, Serving(release.release_id, slot))
        try:
            await self.ask(app.app_id, release.release_id, slot, ATTEMPT_SECONDS)
        except NotSwitched as exc:
            log.warning("router not told of the restored slot %s: %s", slot, exc.reason, extra={"app_id": app.app_id})

    async def unserved(self, app: DesiredApp, release: DesiredRelease, slot: Slot) -> None:
        """The live release has no web instance and the router may not know (this agent or the
        router restarted): remembered first, so the router's resync learns it even if this ask
        goes unanswered."""
        self._memory.serving(app.app_id, Serving(release.release_id, slot, no_instances=True))
        try:
            await self.ask(app.app_id, release.release_id, slot, ATTEMPT_SECONDS, no_instances=True)
        except NotSwitched as exc:
            log.warning("router not told the app has no web instance: %s", exc.reason, extra={"app_id": app.app_id})

    async def switch_back(self, app_id: str, previous: Serving | None) -> None:
        if previous is None:
            return
        try:
            await self.ask(
                app_id,
                previous.release_id,
                previous.slot,
                ATTEMPT_SECONDS,
                previous.addresses,
                no_instances=previous.no_instances,
            )
        except NotSwitched as exc:
            log.warning("router not switched back to slot %s: %s", previous.slot, exc.reason, extra={"app_id": app_id})

    async def ask(
        self,
        app_id: str,
        release_id: str,
        slot: Slot,
        deadline: float,
        addresses: tuple[str, ...] = (),
        *,
        no_instances: bool = False,
    ) -> SlotSwitched:
        """Ask the router until it confirms, for at most ``deadline`` seconds."""
        loop = asyncio.get_running_loop()
        until = loop.time() + deadline
        request = SwitchSlot(
            app_id=app_id, release_id=release_id, slot=slot, addresses=list(addresses), no_instances=no_instances
        )
        last = "no answer"
        while True:
            remaining = until - loop.time()
            try:
                return await bus.request(
                    self._nc, SLOT_SWITCH, request, SlotSwitched, timeout=max(0.05, min(ATTEMPT_SECONDS, remaining))
                )
            except (nats.errors.Error, TimeoutError, BerthError) as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if loop.time() + RETRY_SECONDS >= until:
                raise NotSwitched(last)
            await asyncio.sleep(RETRY_SECONDS)
