"""The API's resync from the health service's state (ADR 0018): read the apps' statuses, ask
the health service for every app's current state, apply the transitions ``health_repairs``
says were missed through ``health_outcomes`` (the code the health-event consumer uses)."""

from __future__ import annotations

import logging

import asyncpg
from berth_shared.contracts.health import (
    HEALTH_STATES_LIST,
    AppRecovered,
    AppUnhealthy,
    HealthStates,
    ListHealthStates,
    RestartsExhausted,
)
from nats.aio.client import Client

from berth_api import health_outcomes, health_repairs, rpc
from berth_api.health_repairs import AppView, Repair

log = logging.getLogger("berth.api.resync")


async def resync(pool: asyncpg.Pool, nc: Client) -> list[Repair]:
    """One pass; raises when the health service does not answer (the loop retries)."""
    rows = await pool.fetch("SELECT id, status, status_reason, current_release_id FROM apps WHERE deleted_at IS NULL")
    apps = {
        str(r["id"]): AppView(
            r["status"], r["status_reason"], str(r["current_release_id"]) if r["current_release_id"] else None
        )
        for r in rows
    }
    states = await rpc.ask(nc, HEALTH_STATES_LIST, ListHealthStates(requester="api"), HealthStates, service=rpc.HEALTH)
    repairs = health_repairs.missed_transitions(apps, states)
    for repair in repairs:
        log.warning("applying a missed health transition: %s of app %s", type(repair).__name__, repair.app_id)
        async with pool.acquire() as conn, conn.transaction():
            match repair:
                case AppUnhealthy():
                    await health_outcomes.unhealthy(conn, repair)
                case AppRecovered():
                    await health_outcomes.recovered(conn, repair)
                case RestartsExhausted():
                    await health_outcomes.gave_up(conn, repair)
    return repairs
