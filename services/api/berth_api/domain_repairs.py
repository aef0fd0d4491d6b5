"""Which domain states the API missed, decided from the router's states (pure).

The API shows each attached hostname's verification and certificate state as the router's
``DomainStatusChanged`` events said. If one is lost, a name reads ``pending`` after its
certificate was issued (or verified after it stopped being) until the next change. So the API
reads the hostnames it holds, *then* asks the router for every hostname's state
(``berth.rpc.router.domains.list``), and applies what this module names through the code its
consumer uses (ADR 0018). As in the consumer, a newer state wins: only a state changed after
the one the API holds counts, and only for a hostname the API holds for the same app.

Each repair's id is derived from the state it repairs (hostname, change time and version).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from berth_shared.contracts.domains import DomainState, DomainStates, DomainStatusChanged

# (app id, hostname) -> when the state the API holds changed (None: no state received yet).
Held = Mapping[tuple[str, str], datetime | None]


def missed_states(held: Held, states: DomainStates) -> list[DomainStatusChanged]:
    repairs: list[DomainStatusChanged] = []
    for state in states.domains:
        key = (state.app_id, state.hostname)
        if key not in held:
            continue  # detached, of another app, or of a deleted app: nothing to show
        since = held[key]
        if since is not None and since >= state.changed_at:
            continue
        repairs.append(event_of(state))
    return repairs


def event_of(state: DomainState) -> DomainStatusChanged:
    """The event the router sent (or would have) for ``state``."""
    return DomainStatusChanged(
        id=f"resync.domain.{state.hostname}.{state.changed_at.isoformat()}.{state.version}",
        at=state.changed_at,
        app_id=state.app_id,
        hostname=state.hostname,
        issuer=state.issuer,
        verified_at=state.verified_at,
        verify_method=state.verify_method,
        tls_state=state.tls_state,
        reason=state.reason,
        checked_at=state.checked_at,
    )
