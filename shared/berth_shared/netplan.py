"""The address plan of design §5: one small fixed subnet per app, two fixed slots in it.

A /28 per app: network address, gateway (.1), slot ``a`` (.2), slot ``b`` (.3).
Pure functions only; the API allocates, the agent creates networks, the router dials slots.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Literal

Slot = Literal["a", "b"]
SLOTS: tuple[Slot, Slot] = ("a", "b")
APP_PREFIX = 28


def other_slot(slot: Slot) -> Slot:
    return "b" if slot == "a" else "a"


def slot_address(subnet: str, slot: Slot) -> str:
    net = ipaddress.IPv4Network(subnet)
    return str(net.network_address + (2 if slot == "a" else 3))


def gateway_address(subnet: str) -> str:
    return str(ipaddress.IPv4Network(subnet).network_address + 1)


def first_free_subnet(pool: ipaddress.IPv4Network, taken: Iterable[str]) -> str | None:
    """The lowest /28 of ``pool`` not in ``taken``, or None when the pool is full."""
    used = {ipaddress.IPv4Network(s) for s in taken}
    for candidate in pool.subnets(new_prefix=APP_PREFIX):
        if candidate not in used:
            return str(candidate)
    return None
