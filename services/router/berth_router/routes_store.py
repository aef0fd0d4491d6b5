"""The routes table: idempotent writes (safe under redelivery) and the full list to render."""

from __future__ import annotations

import asyncpg

from berth_router.caddy_config import Route
from berth_router.route_changes import Remove, RouteChange, Upsert

# Newer-wins, and never for an app already deleted: a redelivered or reordered event is a no-op.
_UPSERT = """
INSERT INTO routes (app_id, name, hostname, port, subnet, health_path, expect_status, updated_at, domains)
SELECT $1, $2, $3, $4, $5, $6, $8, $7, $9
WHERE NOT EXISTS (SELECT 1 FROM deleted_apps WHERE app_id = $1)
ON CONFLICT (app_id) DO UPDATE SET
    name = EXCLUDED.name,
    hostname = EXCLUDED.hostname,
    port = EXCLUDED.port,
    subnet = EXCLUDED.subnet,
    health_path = EXCLUDED.health_path,
    expect_status = EXCLUDED.expect_status,
    domains = EXCLUDED.domains,
    updated_at = EXCLUDED.updated_at,
    refused = NULL
WHERE routes.updated_at < EXCLUDED.updated_at
"""

_REMEMBER_DELETED = "INSERT INTO deleted_apps (app_id, deleted_at) VALUES ($1, $2) ON CONFLICT (app_id) DO NOTHING"
_DELETE = "DELETE FROM routes WHERE app_id = $1"
_SELECT_ALL = (
    "SELECT app_id, name, hostname, port, subnet, health_path, expect_status, domains FROM routes "
    "WHERE refused IS NULL ORDER BY hostname, app_id"
)
# Only the version Caddy was asked about: an update stored meanwhile is checked afresh.
_REFUSE = """
UPDATE routes SET refused = $2
WHERE app_id = $1 AND name = $3 AND hostname = $4 AND port = $5 AND subnet = $6 AND health_path = $7
  AND expect_status = $8 AND domains = $9
"""


class RouteStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def apply(self, change: RouteChange) -> None:
        if isinstance(change, Upsert):
            await self.upsert(change)
        else:
            await self.remove(change)

    async def upsert(self, change: Upsert) -> None:
        r = change.route
        await self.pool.execute(
            _UPSERT,
            r.app_id,
            r.name,
            r.hostname,
            r.port,
            r.subnet,
            r.health_path,
            change.at,
            r.expect_status,
            list(r.domains),
        )

    async def remove(self, change: Remove) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_REMEMBER_DELETED, change.app_id, change.at)
            await conn.execute(_DELETE, change.app_id)

    async def all(self) -> list[Route]:
        """Every route to render: apps whose routes Caddy refused are left out."""
        rows = await self.pool.fetch(_SELECT_ALL)
        return [Route(**{**dict(row), "domains": tuple(row["domains"])}) for row in rows]

    async def held(self) -> dict[str, Route]:
        """Every stored route by app id, refused ones included (what a resync compares)."""
        rows = await self.pool.fetch(
            "SELECT app_id, name, hostname, port, subnet, health_path, expect_status, domains FROM routes"
        )
        return {row["app_id"]: Route(**{**dict(row), "domains": tuple(row["domains"])}) for row in rows}

    async def refuse(self, route: Route, reason: str) -> bool:
        """Leave ``route``'s app out of routing until its route changes; False if it changed."""
        r = route
        status = await self.pool.execute(
            _REFUSE,
            r.app_id,
            reason,
            r.name,
            r.hostname,
            r.port,
            r.subnet,
            r.health_path,
            r.expect_status,
            list(r.domains),
        )
        return status.endswith(" 1")

    async def refused(self) -> dict[str, str]:
        """Apps left out of routing, with Caddy's reason."""
        rows = await self.pool.fetch("SELECT app_id, refused FROM routes WHERE refused IS NOT NULL")
        return {row["app_id"]: row["refused"] for row in rows}

    async def hosts(self) -> set[str]:
        """Every hostname routed to an app: generated ones and attached domains."""
        rows = await self.pool.fetch("SELECT hostname, domains FROM routes")
        return {host for row in rows for host in (row["hostname"], *row["domains"])}

    async def generated_hosts(self) -> set[str]:
        """Every app's generated hostname (approved for certificates without verification:
        the operator pointed ``*.BERTH_DOMAIN`` here)."""
        return {row["hostname"] for row in await self.pool.fetch("SELECT hostname FROM routes")}
