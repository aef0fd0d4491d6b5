"""Which web instances of an app are checked, and what one check of all of them says: pure
decisions (ADR 0026 §2).

The agent names every web address of the live slot (``ReleaseLive.addresses``, the API's
``LiveRelease.addresses`` in a resync); none (an agent from before ADR 0026) means the slot's
fixed address. Each check probes every instance and the app is as healthy as its worst one: the
first failing instance (in the agent's order) gives the result and the reason, else the slowest.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from berth_shared.contracts.health import HealthCheck, describe_expected, status_matches
from berth_shared.netplan import Slot, slot_address

from berth_health.probe import ProbeResult

AddressOf = Callable[[str, Slot], str]


def instance_hosts(
    subnet: str, slot: Slot, addresses: Sequence[str], address_of: AddressOf = slot_address
) -> tuple[str, ...]:
    """The hosts to probe: the named addresses inside the app's subnet, in order, once each; none
    left: the slot's fixed address (``address_of``). An address outside the subnet is never probed."""
    network = ipaddress.IPv4Network(subnet, strict=False)
    kept: list[str] = []
    for address in addresses:
        try:
            parsed = ipaddress.IPv4Address(address)
        except ValueError:
            continue
        if parsed in network and str(parsed) not in kept:
            kept.append(str(parsed))
    return tuple(kept) if kept else (address_of(subnet, slot),)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    reason: str  # empty when ok
    result: ProbeResult  # what the check's history records: the worst instance's probe


def judge(check: HealthCheck, probed: Sequence[tuple[str, ProbeResult]]) -> Outcome:
    """One check of every instance (``probed``: host and its probe, in the agent's order; at least
    one). With several instances a reason names the one that failed."""
    if not probed:
        raise ValueError("a check probes at least one instance")
    for host, result in probed:
        reason = _failure(check, result)
        if reason:
            if len(probed) > 1:
                reason = f"instance {host}: {reason}"
            return Outcome(False, reason, result)
    slowest = max((result for _, result in probed), key=lambda r: r.latency_ms)
    return Outcome(True, "", slowest)


def _failure(check: HealthCheck, result: ProbeResult) -> str:
    if result.error is not None:
        return f"GET {check.path}: {result.error}"
    if result.status_code is None or not status_matches(result.status_code, check.expected_status):
        return f"GET {check.path}: HTTP {result.status_code}, expected {describe_expected(check.expected_status)}"
    return ""


def serves_web(process: str, run_id: str) -> bool:
    """Whether a container event (or a crash) is about a web instance, the only containers the
    app's health is about: a worker that dies, a cron or one-off run that exits non-zero (its
    outcome is the run's, ADR 0026 §4-5) or a release command leaves web serving."""
    return process == "web" and not run_id
