"""The ``domain_status`` table: one row per attached hostname, following the routes table.

Rows appear when a route gains a domain and go when it loses it (or the app is deleted). A row
whose user-visible state changes gets a new ``version``; the announcer publishes versions
newer than ``published_version``, so a state change is announced even across a crash.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
from berth_shared.contracts.domains import DomainState as DomainStateRow
from berth_shared.contracts.domains import issuer_for

from berth_router.domain_checks import DomainState

_COLUMNS = (
    "hostname, app_id, issuer, verified_at, verify_method, tls_state, reason, checked_at, failures, next_check_at"
)


def state_of(row: asyncpg.Record) -> DomainState:
    return DomainState(**{k: row[k] for k in _COLUMNS.split(", ")})


class DomainStore:
    def __init__(self, pool: asyncpg.Pool, *, tls_internal: bool = False) -> None:
        self.pool = pool
        self.tls_internal = tls_internal

    async def follow_routes(self) -> tuple[list[str], list[str]]:
        """Add rows for newly attached hostnames, drop rows of detached ones: (added, removed)."""
        async with self.pool.acquire() as conn, conn.transaction():
            attached = await conn.fetch("SELECT app_id, unnest(domains) AS hostname FROM routes")
            wanted = {r["hostname"]: r["app_id"] for r in attached}
            have = {r["hostname"]: r["app_id"] for r in await conn.fetch("SELECT hostname, app_id FROM domain_status")}
            removed = [h for h, app in have.items() if wanted.get(h) != app]
            if removed:
                await conn.execute("DELETE FROM domain_status WHERE hostname = ANY($1::text[])", removed)
            added = [h for h, app in wanted.items() if have.get(h) != app]
            for hostname in added:
                await conn.execute(
                    "INSERT INTO domain_status (hostname, app_id, issuer) VALUES ($1, $2, $3)",
                    hostname,
                    wanted[hostname],
                    issuer_for(hostname, tls_internal=self.tls_internal),
                )
            return added, removed

    async def get(self, hostname: str) -> DomainState | None:
        row = await self.pool.fetchrow(f"SELECT {_COLUMNS} FROM domain_status WHERE hostname = $1", hostname)
        return state_of(row) if row else None

    async def due(self, now: datetime) -> list[DomainState]:
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM domain_status WHERE next_check_at <= $1 ORDER BY next_check_at", now
        )
        return [state_of(r) for r in rows]

    async def save(self, before: DomainState, after: DomainState, now: datetime) -> bool:
        """Store ``after`` (if its row still belongs to the same app); True when users see a change."""
        changed = before.public_fields() != after.public_fields()
        await self.pool.execute(
            """
            UPDATE domain_status SET verified_at = $3, verify_method = $4, tls_state = $5, reason = $6,
                checked_at = $7, failures = $8, next_check_at = $9,
                version = version + $10::int, changed_at = CASE WHEN $10::int = 1 THEN $11 ELSE changed_at END
            WHERE hostname = $1 AND app_id = $2
            """,
            after.hostname,
            after.app_id,
            after.verified_at,
            after.verify_method,
            after.tls_state,
            after.reason,
            after.checked_at,
            after.failures,
            after.next_check_at or now,
            1 if changed or before.checked_at != after.checked_at else 0,
            now,
        )
        return changed

    async def unannounced(self) -> list[tuple[DomainState, int, datetime]]:
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS}, version, changed_at FROM domain_status "
            "WHERE version > published_version ORDER BY changed_at"
        )
        return [(state_of(r), r["version"], r["changed_at"]) for r in rows]

    async def announced(self, hostname: str, version: int) -> None:
        await self.pool.execute(
            "UPDATE domain_status SET published_version = GREATEST(published_version, $2) WHERE hostname = $1",
            hostname,
            version,
        )

    async def approved(self) -> set[str]:
        """Attached public names Caddy may ask the ACME CA about: those verified to lead here.
        (Local names never reach the ask endpoint: the internal CA's policy names them.)"""
        rows = await self.pool.fetch(
            "SELECT hostname FROM domain_status WHERE issuer = 'acme' AND verified_at IS NOT NULL"
        )
        return {r["hostname"] for r in rows}

    async def secure(self) -> set[str]:
        """Public names holding a certificate: HTTP redirects to HTTPS for them."""
        rows = await self.pool.fetch(
            "SELECT hostname FROM domain_status WHERE issuer = 'acme' AND tls_state = 'issued'"
        )
        return {r["hostname"] for r in rows}

    async def states(self) -> list[DomainStateRow]:
        """Every hostname's user-visible state and when it last changed (ADR 0018's resync)."""
        rows = await self.pool.fetch(
            "SELECT hostname, app_id, issuer, verified_at, verify_method, tls_state, reason, checked_at, "
            "changed_at, version FROM domain_status ORDER BY hostname"
        )
        return [DomainStateRow(**dict(r)) for r in rows]

    async def app_of(self, hostname: str) -> str | None:
        value = await self.pool.fetchval("SELECT app_id FROM domain_status WHERE hostname = $1", hostname)
        return str(value) if value is not None else None
