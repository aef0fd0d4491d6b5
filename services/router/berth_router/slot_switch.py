"""``berth.rpc.router.slots.switch``: the agent has the proxy send an app's new requests to the
slot whose release passed its gate; answered once the slot DNS serves the new answer, with how
long the proxy may still hold an earlier one (ADR 0025)."""

from __future__ import annotations

from berth_shared.contracts.base import decode
from berth_shared.contracts.slots import SlotSwitched, SwitchSlot

from berth_router.live_slots import Slots


async def switched(slots: Slots, data: bytes) -> SlotSwitched:
    request = decode(data, SwitchSlot)
    stale = slots.switch(
        request.app_id, request.release_id, request.slot, request.addresses, no_instances=request.no_instances
    )
    return SlotSwitched(
        app_id=request.app_id, release_id=request.release_id, slot=request.slot, stale_for_seconds=round(stale, 4)
    )
