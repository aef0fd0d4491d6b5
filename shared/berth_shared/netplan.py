"""The address plan (design §5, ADR 0026): one small fixed subnet per app.

A /28 per app (``APP_PREFIX``): network address, gateway (.1), web instance 0 of slot ``a`` (.2)
and of slot ``b`` (.3) — the two fixed addresses the proxy's static fallback lists — and, from .4
up to the address before the broadcast, the *shared range*: every other container of the app
(web instances 1.., workers, cron and one-off runs, release commands) at an address the runtime
agent picks (:func:`pick_address`) and writes on the container, so nothing else computes it.
Larger blocks (any prefix up to ``MAX_APP_PREFIX``) follow the same layout with a larger range.

Pure functions only; the API allocates subnets and checks a formation fits (:func:`formation_fits`),
the agent creates networks and picks addresses, the router and health service use the addresses
the agent reports (the fixed slot addresses only for instance 0 and for older messages).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Literal

Slot = Literal["a", "b"]
SLOTS: tuple[Slot, Slot] = ("a", "b")
APP_PREFIX = 28
# The smallest block with the layout above: gateway, two fixed slots and a shared range.
MAX_APP_PREFIX = 28
# Addresses of the shared range a formation may not plan for: kept free for a release command,
# a cron run and a one-off run alongside a rollout.
RUN_RESERVE = 3


def other_slot(slot: Slot) -> Slot:
    return "b" if slot == "a" else "a"


def slot_address(subnet: str, slot: Slot) -> str:
    """The fixed address of web instance 0 in ``slot`` (.2 for ``a``, .3 for ``b``)."""
    net = ipaddress.IPv4Network(subnet)
    return str(net.network_address + (2 if slot == "a" else 3))


def gateway_address(subnet: str) -> str:
    return str(ipaddress.IPv4Network(subnet).network_address + 1)


def _block(subnet: str) -> ipaddress.IPv4Network:
    net = ipaddress.IPv4Network(subnet)
    if net.prefixlen > MAX_APP_PREFIX:
        raise ValueError(f"subnet {subnet} is smaller than a /{MAX_APP_PREFIX}")
    return net


def shared_range(subnet: str) -> list[str]:
    """The addresses the agent hands out itself, lowest first: .4 up to the one before the broadcast."""
    net = _block(subnet)
    first, last = int(net.network_address) + 4, int(net.broadcast_address) - 1
    return [str(ipaddress.IPv4Address(n)) for n in range(first, last + 1)]


def container_capacity(subnet: str) -> int:
    """How many containers of the app can have an address at once (both fixed slots and the range)."""
    return 2 + len(shared_range(subnet))


def pick_address(subnet: str, taken: Iterable[str]) -> str | None:
    """The lowest address of the shared range that no container of the app holds, or None when
    every one is taken (the caller waits or fails the container with that reason)."""
    held = set(taken)
    return next((address for address in shared_range(subnet) if address not in held), None)


def rollout_peak(counts: Mapping[str, int]) -> int:
    """Containers a formation needs at once: a rollout starts every process's new instances
    before it stops the old ones (web in the free slot, the others beside theirs)."""
    return 2 * sum(max(0, count) for count in counts.values())


def formation_fits(subnet: str, counts: Mapping[str, int]) -> str | None:
    """None when a formation (process name -> count) fits the app's block during a rollout with
    :data:`RUN_RESERVE` addresses to spare; otherwise why not, for a 422 on the counts."""
    need = rollout_peak(counts)
    room = container_capacity(subnet) - RUN_RESERVE
    if need <= room:
        return None
    return (
        f"needs {need} addresses during a rollout (every instance twice) and the app's network "
        f"{subnet} has room for {room} besides {RUN_RESERVE} kept for runs: "
        f"at most {room // 2} instances in all"
    )


def first_free_subnet(pool: ipaddress.IPv4Network, taken: Iterable[str]) -> str | None:
    """The lowest /28 of ``pool`` not in ``taken``, or None when the pool is full."""
    used = {ipaddress.IPv4Network(s) for s in taken}
    for candidate in pool.subnets(new_prefix=APP_PREFIX):
        if candidate not in used:
            return str(candidate)
    return None
