"""Slots family: which slot of each app the proxy sends new requests to (ADR 0025).

The runtime agent asks the router to switch an app's live slot once the new slot passed its
deploy gate (``berth.rpc.router.slots.switch``); the router answers once its slot DNS serves the
new answer, and Caddy looks it up again within ``UPSTREAM_REFRESH_SECONDS``
(``berth_shared.proxy_timing``). The router holds the table in memory only: after its own restart
it asks the agent which slot of each app serves (``berth.rpc.agent.<host>.slots``, at start and
with its periodic resync, ADR 0018). Core NATS request/reply: nothing is persisted on the bus.
Only the agent asks for a switch; only the router asks for the agent's slots.
"""

from __future__ import annotations

import msgspec

from berth_shared.contracts.base import Message
from berth_shared.netplan import Slot

SLOT_SWITCH = "berth.rpc.router.slots.switch"


class SwitchSlot(Message, kw_only=True):
    """Send the new requests of ``app_id`` to ``slot``, where ``release_id`` runs and passed its gate."""

    app_id: str
    release_id: str
    slot: Slot
    # The web instances the name answers from now on (several A records; ADR 0026). Empty from
    # older agents: the slot's fixed address. A scale of the live release sends the same slot
    # with the new list.
    addresses: list[str] = []
    # The app has no web instance (web scaled to 0, a worker-only release): the proxy answers
    # its 503 page at once instead of trying addresses (``addresses`` is then empty).
    no_instances: bool = False


class SlotSwitched(Message, kw_only=True):
    """The router's slot DNS answers ``slot`` for the app from now on.

    ``stale_for_seconds``: how much longer the proxy may still use an answer the router gave
    before the switch (it looked the name up within the last ``UPSTREAM_REFRESH_SECONDS``); 0 when
    it cannot hold one (no earlier answer is that recent, or it was already this slot's). Absent
    (None) from routers that do not know: then the agent waits the whole refresh bound.
    """

    app_id: str
    release_id: str
    slot: Slot
    stale_for_seconds: float | None = None


def serving_slots_subject(host: str) -> str:
    return f"berth.rpc.agent.{host}.slots"


class ListServingSlots(Message, kw_only=True):
    requester: str


class ServingSlot(msgspec.Struct, kw_only=True):
    app_id: str
    release_id: str
    slot: Slot
    addresses: list[str] = []
    no_instances: bool = False  # as in SwitchSlot


class ServingSlots(Message, kw_only=True):
    """The slot of each app the agent last had the router switch to (or, after the agent's own
    restart, the one running container of the app); apps it cannot tell are left out."""

    host: str
    slots: list[ServingSlot] = []
