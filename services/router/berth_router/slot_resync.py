"""What the agent's serving slots repair in the router's live-slot table: a pure decision.

``before`` is the table read before the agent was asked; an app whose entry changed since then
was switched meanwhile, and that switch is newer than the answer, so it is left alone. Any
other app the agent serves from another slot, release or set of web addresses (or with no web
instance) than the table says is repaired (an agent from before ADR 0026 names no addresses: the slot's fixed one). Apps
the agent does not name are left as they are (it names only those it can tell).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from berth_shared.contracts.slots import ServingSlot
from berth_shared.netplan import Slot


@dataclass(frozen=True)
class LiveSlot:
    release_id: str
    slot: Slot
    version: int  # grows with every change of the table
    addresses: tuple[str, ...] = ()  # the live slot's web addresses the agent named (none: the fixed one)
    no_instances: bool = False  # web at 0: the proxy answers the app's 503 page at once


def slot_repairs(
    before: Mapping[str, LiveSlot], now: Mapping[str, LiveSlot], serving: Sequence[ServingSlot]
) -> list[ServingSlot]:
    repairs = []
    for answer in serving:
        held = now.get(answer.app_id)
        if held != before.get(answer.app_id):
            continue
        if held is None or (held.slot, held.release_id, held.addresses, held.no_instances) != (
            answer.slot,
            answer.release_id,
            tuple(answer.addresses),
            answer.no_instances,
        ):
            repairs.append(answer)
    return repairs
