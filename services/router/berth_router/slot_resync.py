"""What the agent's serving slots repair in the router's live-slot table: a pure decision.

``before`` is the table read before the agent was asked; an app whose entry changed since then
was switched meanwhile, and that switch is newer than the answer, so it is left alone. Any
other app the agent serves from another slot or release than the table says is repaired. Apps
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


def slot_repairs(
    before: Mapping[str, LiveSlot], now: Mapping[str, LiveSlot], serving: Sequence[ServingSlot]
) -> list[ServingSlot]:
    repairs = []
    for answer in serving:
        held = now.get(answer.app_id)
        if held != before.get(answer.app_id):
            continue
        if held is None or (held.slot, held.release_id) != (answer.slot, answer.release_id):
            repairs.append(answer)
    return repairs
