"""The API's resync from the runtime agent's state (ADR 0018): read what the API recorded, ask
the agent what it holds, apply the events ``agent_repairs`` says were missed through the stores
the event consumer uses. Run at start and every ``BERTH_RESYNC_SECONDS`` by
``berth_shared.resync.periodically``."""

from __future__ import annotations

import logging

import asyncpg
from berth_shared.contracts.agent import AgentApps, AgentAppsQuery, agent_apps_subject
from berth_shared.contracts.releases import AppCleanedUp, ReleaseFailed, ReleaseLive
from berth_shared.db import Connection
from nats.aio.client import Client

from berth_api import agent_repairs, releases_store, rpc, run_repairs, runs_store
from berth_api.agent_repairs import Recorded, Repair

log = logging.getLogger("berth.api.resync")


async def recorded(conn: Connection) -> Recorded:
    """Unsettled releases and deleted apps, in one snapshot."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        releases = await conn.fetch("SELECT id, app_id FROM releases WHERE status IN ('pending', 'starting')")
        deleted = await conn.fetch("SELECT id, deleted_at FROM apps WHERE deleted_at IS NOT NULL")
    return Recorded(
        unsettled={str(r["id"]): str(r["app_id"]) for r in releases},
        deleted={str(r["id"]): r["deleted_at"] for r in deleted},
    )


async def apply(conn: Connection, repair: Repair) -> None:
    async with conn.transaction():
        match repair:
            case ReleaseLive():
                await releases_store.go_live(conn, repair)
            case ReleaseFailed():
                await releases_store.fail(conn, repair)
            case AppCleanedUp():
                await releases_store.forget_cleaned_up(conn, repair)


async def resync(pool: asyncpg.Pool, nc: Client, host: str) -> list[Repair]:
    """One pass; raises when the agent does not answer (the loop retries)."""
    async with pool.acquire() as conn:
        before = await recorded(conn)
        runs = await runs_store.unfinished_all(conn)
    held = await rpc.ask(nc, agent_apps_subject(host), AgentAppsQuery(requester="api"), AgentApps, service=rpc.AGENT)
    for lost in run_repairs.lost_runs(runs, held):  # ADR 0026 §5
        log.warning("run %s of app %s: %s", lost.run_id, lost.app_id, lost.reason)
        async with pool.acquire() as conn, conn.transaction():
            await runs_store.finished(conn, lost, held.at)
    repairs = agent_repairs.missed_events(before, held)
    for repair in repairs:
        log.warning("applying a missed agent event: %s of app %s", type(repair).__name__, repair.app_id)
        async with pool.acquire() as conn:
            await apply(conn, repair)
    return repairs
