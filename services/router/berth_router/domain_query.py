"""``berth.rpc.router.domains.list``: every attached hostname's current state, from the
``domain_status`` table, for the API's resync of lost ``DomainStatusChanged`` (ADR 0018)."""

from __future__ import annotations

from berth_shared.contracts.base import decode
from berth_shared.contracts.domains import DomainStates, ListDomainStates

from berth_router.domain_store import DomainStore


async def states(store: DomainStore, data: bytes) -> DomainStates:
    decode(data, ListDomainStates)
    return DomainStates(domains=await store.states())
