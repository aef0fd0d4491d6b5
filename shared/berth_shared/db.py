"""Versioned migrations for a service's own schema, applied at start.

Each service passes its ordered list of SQL migrations; applied versions are recorded in
``<schema>.schema_migrations``. The service's role owns only its schema (set up by the
launcher), and its ``search_path`` points there, so SQL can use bare table names.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

log = logging.getLogger("berth.db")

# A connection as handlers see it: plain, or borrowed from a pool.
Connection: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"


# Connections idle this long are closed (all but the pool's floor of ``min_size``): each costs a
# Postgres backend (3-8 MB PSS once its catalog caches are warm), and bursts (a deploy, a page
# of logs) should not keep five per service for the next five minutes.
IDLE_CONNECTION_SECONDS = 30.0

# A pool's size when its caller does not say. Each service's entry point states its own (ADR 0001,
# addendum "Postgres backends"): a burst that is regular (cron runs every 30 s, log cursors saved
# every second) keeps every connection it opened alive, so a size above the service's real
# concurrency is resident memory, not spare capacity.
DEFAULT_POOL_SIZE = 5


async def create_pool(dsn: str, schema: str, *, min_size: int = 1, max_size: int = DEFAULT_POOL_SIZE) -> asyncpg.Pool:
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                max_inactive_connection_lifetime=IDLE_CONNECTION_SECONDS,
                server_settings={"search_path": schema, "application_name": f"berth-{schema}"},
            )
            assert pool is not None
            return pool
        except (OSError, asyncpg.CannotConnectNowError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.3)


async def migrate(pool: asyncpg.Pool, schema: str, migrations: Sequence[str]) -> int:
    """Apply the migrations not yet applied; returns the schema version afterwards.

    The schema itself is created (and owned by the service's role) by the launcher."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations '
            "(version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        # One migrator at a time, even if two processes of a service start together.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", schema)
        applied = {r["version"] for r in await conn.fetch(f'SELECT version FROM "{schema}".schema_migrations')}
        for version, sql in enumerate(migrations, start=1):
            if version in applied:
                continue
            log.info("applying migration %s.%d", schema, version)
            await conn.execute(sql)
            await conn.execute(f'INSERT INTO "{schema}".schema_migrations(version) VALUES ($1)', version)
        return len(migrations)


def deleted_rows(status: str) -> int:
    """The row count of a ``DELETE n`` command status (what ``execute`` returns)."""
    return int(status.rsplit(" ", 1)[-1])


def app_ids_sql(table: str) -> str:
    """SQL for every app id in ``table`` (a constant name), by a loose index scan of its index
    leading with ``app_id``: one probe per app, not one per row."""
    return f"""
WITH RECURSIVE ids AS (
    (SELECT app_id FROM {table} ORDER BY app_id LIMIT 1)
    UNION ALL
    SELECT (SELECT t.app_id FROM {table} t WHERE t.app_id > ids.app_id ORDER BY t.app_id LIMIT 1)
    FROM ids WHERE ids.app_id IS NOT NULL
)
SELECT app_id FROM ids WHERE app_id IS NOT NULL
"""
