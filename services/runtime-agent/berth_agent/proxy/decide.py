"""What a scale of the live release tells the proxy and the platform (ADR 0026 §1, §2): pure.

Web scaled in place keeps its slot; what changes is the set of web addresses. The router's slot
DNS must answer the new set before a removed instance is drained (so it gets no new request) and
as soon as an added one passed its gate (so it gets its share); the API and the health service
learn the new set from a ``ReleaseLive`` of the same release (the health service then checks
where the instances are, without starting the app's health state over). Web scaled to 0 switches
the app to "no instances": the proxy answers its 503 page at once instead of trying addresses
that are gone, and the health service stops checking it until web is back.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScaleSwitch:
    switch: bool  # ask the router to answer ``addresses`` (or no instance at all)
    addresses: tuple[str, ...] = ()
    no_instances: bool = False  # web is at 0: the proxy answers the 503 page at once
    announce: bool = False  # publish ReleaseLive of the live release at ``addresses`` (or with none)


def scale_switch(before: tuple[str, ...], after: tuple[str, ...]) -> ScaleSwitch:
    """``before``: the web addresses the router answers now (the kept and the removed instances);
    ``after``: the kept and the added ones, in instance order."""
    if after == before:
        return ScaleSwitch(switch=False)
    if not after:
        # Announced with no_instances (an empty list alone means the slot's fixed address): the
        # health service stops checking instead of finding the removed instances gone.
        return ScaleSwitch(switch=True, no_instances=True, announce=True)
    return ScaleSwitch(switch=True, addresses=after, announce=True)
