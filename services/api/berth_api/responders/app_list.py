"""Answers ``berth.rpc.api.apps.list``: every app that exists, with what the router, the logs
service and the health service need to repair what they learnt from events (ADR 0018)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import asyncpg
from berth_shared.contracts.base import decode
from berth_shared.contracts.owner_state import AppFacts, AppList, ListApps, LiveRelease

from berth_api import apps_store

log = logging.getLogger("berth.api.app_list")

_APPS = (
    "SELECT a.*, r.id AS live_release_id, r.slot AS live_slot, r.live_at AS live_release_at, "
    "r.addresses AS live_addresses, r.no_instances AS live_no_instances "
    "FROM apps a LEFT JOIN releases r ON r.id = a.current_release_id AND r.live_at IS NOT NULL "
    "AND r.slot IN ('a', 'b') WHERE a.deleted_at IS NULL ORDER BY a.created_at"
)
_DOMAINS = "SELECT d.app_id, d.hostname FROM domains d JOIN apps a ON a.id = d.app_id WHERE a.deleted_at IS NULL"


def app_facts(row: asyncpg.Record, domain: str, domains: list[str]) -> AppFacts:
    """What ``AppUpdated`` would say about ``row`` now, and the release it serves."""
    event = apps_store.app_updated(row, domain, sorted(domains))
    live = None
    if row["live_release_id"] is not None:
        live = LiveRelease(
            release_id=str(row["live_release_id"]),
            slot=row["live_slot"],
            live_at=row["live_release_at"],
            addresses=list(row.get("live_addresses") or []),
            no_instances=bool(row.get("live_no_instances")),
        )
    return AppFacts(
        app_id=event.app_id,
        name=event.name,
        hostname=event.hostname,
        port=event.port,
        subnet=event.subnet,
        health_path=event.health_path,
        health_check=event.health_check,
        domains=event.domains,
        live=live,
    )


async def list_apps(pool: asyncpg.Pool, data: bytes, domain: str) -> AppList:
    request = decode(data, ListApps)
    as_of = datetime.now(UTC)
    # One snapshot for both reads, so an app and its domains agree.
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        apps = await conn.fetch(_APPS)
        hosts: dict[str, list[str]] = {}
        for row in await conn.fetch(_DOMAINS):
            hosts.setdefault(str(row["app_id"]), []).append(row["hostname"])
    log.debug("apps list for %s: %d app(s)", request.requester or "?", len(apps))
    return AppList(apps=[app_facts(a, domain, hosts.get(str(a["id"]), [])) for a in apps], as_of=as_of)
