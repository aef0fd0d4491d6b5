"""The live slot of every app (ADR 0025): a table in memory, and the slot DNS answering from it.

The runtime agent switches an app's slot once the new one passed its gate; the answer for the
app is served before the switch is confirmed. Answers need the app's subnet, so they are served
for apps with a route (:meth:`Slots.follow_routes`). Nothing is stored: after a restart the
router asks the agent which slot of each app serves (:meth:`Slots.resync`, decided by
:mod:`berth_router.slot_resync`); until then Caddy falls back to both slots.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from berth_shared import bus
from berth_shared.contracts.slots import ListServingSlots, ServingSlot, ServingSlots, serving_slots_subject
from berth_shared.netplan import Slot
from nats.aio.client import Client

from berth_router.caddy_config import Route
from berth_router.no_instance_marks import NoInstanceMarks
from berth_router.slot_answers import answer_table, slot_name
from berth_router.slot_dns import SlotDns
from berth_router.slot_resync import LiveSlot, slot_repairs

log = logging.getLogger("berth.router.slots")


@dataclass
class Slots:
    dns: SlotDns
    host: str = "local"
    # Where the apps without a web instance are marked for Caddy (None: not marked).
    marks: NoInstanceMarks | None = None

    def __post_init__(self) -> None:
        self.live: dict[str, LiveSlot] = {}
        self._subnets: dict[str, str] = {}
        self._version = 0

    def switch(
        self, app_id: str, release_id: str, slot: Slot, addresses: Sequence[str] = (), *, no_instances: bool = False
    ) -> float:
        """Answer ``slot``'s web ``addresses`` (none: its fixed address) for ``app_id`` from the
        next lookup on — or, ``no_instances`` (web at 0), mark the app so that the proxy answers
        its 503 page at once; how much longer the proxy may still use an earlier answer
        (:meth:`SlotDns.stale_for`)."""
        self._version += 1
        self.live[app_id] = LiveSlot(release_id, slot, self._version, tuple(addresses), no_instances)
        self._serve()
        return self.dns.stale_for(slot_name(app_id))

    def follow_routes(self, routes: Iterable[Route]) -> None:
        """The routed apps changed: answer for those (a slot without a route is kept, unanswered)."""
        self._subnets = {r.app_id: r.subnet for r in routes}
        self._serve()

    def forget(self, app_id: str) -> None:
        """The app is gone."""
        if self.live.pop(app_id, None) is not None:
            self._serve()

    def _serve(self) -> None:
        serving = {app_id: (s.slot, s.addresses) for app_id, s in self.live.items() if not s.no_instances}
        if self.marks is not None:
            self.marks.mark({app_id for app_id, s in self.live.items() if s.no_instances})
        self.dns.serve(answer_table(self._subnets, serving))

    async def resync(self, nc: Client, timeout: float = 5.0) -> list[ServingSlot]:
        """Repair the table from the agent's serving slots (after a restart: fill it); the repairs."""
        before = dict(self.live)  # before the request: a switch meanwhile is newer than the answer
        subject = serving_slots_subject(self.host)
        serving = await bus.request(nc, subject, ListServingSlots(requester="router"), ServingSlots, timeout=timeout)
        repairs = slot_repairs(before, self.live, serving.slots)
        for repair in repairs:
            log.info(
                "live slot of %s: %s (from the agent)", repair.app_id, repair.slot, extra={"app_id": repair.app_id}
            )
            self.switch(
                repair.app_id, repair.release_id, repair.slot, repair.addresses, no_instances=repair.no_instances
            )
        return repairs
