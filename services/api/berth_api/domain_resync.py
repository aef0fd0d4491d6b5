"""The API's resync from the router's state (ADR 0018): read the attached hostnames and the
state held for each, ask the router for every hostname's current state, apply what
``domain_repairs`` says was missed through ``domain_status_store`` (the code the consumer applies events with)."""

from __future__ import annotations

import logging

import asyncpg
from berth_shared.contracts.domains import DOMAIN_STATES_LIST, DomainStates, DomainStatusChanged, ListDomainStates
from nats.aio.client import Client

from berth_api import domain_repairs, domain_status_store, rpc

log = logging.getLogger("berth.api.resync")


async def resync(pool: asyncpg.Pool, nc: Client) -> list[DomainStatusChanged]:
    """One pass; raises when the router does not answer (the loop retries)."""
    rows = await pool.fetch(
        "SELECT d.app_id, d.hostname, d.status_at FROM domains d JOIN apps a ON a.id = d.app_id "
        "WHERE a.deleted_at IS NULL"
    )
    held = {(str(r["app_id"]), r["hostname"]): r["status_at"] for r in rows}
    states = await rpc.ask(nc, DOMAIN_STATES_LIST, ListDomainStates(requester="api"), DomainStates, service=rpc.ROUTER)
    repairs = domain_repairs.missed_states(held, states)
    for repair in repairs:
        log.warning(
            "applying a missed domain state: %s of app %s is %s", repair.hostname, repair.app_id, repair.tls_state
        )
        async with pool.acquire() as conn:
            await domain_status_store.apply(conn, repair)
    return repairs
