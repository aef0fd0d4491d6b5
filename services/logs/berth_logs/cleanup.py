"""When an app is deleted, every log line it left is deleted too: the logs service's SQL for
``berth_shared.app_cleanup`` (the AppDeleted applier, and the resync from the API's app list
at start and every minute for an AppDeleted that was lost, ADR 0018).

A tombstone in ``deleted_apps`` makes the ingester drop batches of the app that arrive late
(a collector still flushing), so its lines never come back.
"""

from __future__ import annotations

from functools import partial

import asyncpg
from berth_shared.app_cleanup import AppCleanup
from berth_shared.db import app_ids_sql, deleted_rows

# Every app id with lines (a loose index scan: one probe per app, not per line), origins, settings
# or counters, that is not deleted already.
_HELD_APPS = f"""
{app_ids_sql("lines")}
UNION SELECT app_id FROM origins
UNION SELECT app_id FROM retention
UNION SELECT app_id FROM counters
EXCEPT SELECT app_id FROM deleted_apps
"""


async def delete_app_lines(pool: asyncpg.Pool, app_id: str) -> int:
    """Tombstone the app and delete its lines, their search chunks and origins, settings and
    counters; returns the lines deleted."""
    async with pool.acquire() as conn, conn.transaction():
        # Chunks first: an insert holds their table's lock before it touches the app's retention
        # and counters rows, so taking it first here cannot deadlock with one.
        await conn.execute("DELETE FROM chunks WHERE app_id = $1", app_id)
        await conn.execute("INSERT INTO deleted_apps (app_id) VALUES ($1) ON CONFLICT DO NOTHING", app_id)
        await conn.execute("DELETE FROM retention WHERE app_id = $1", app_id)
        await conn.execute("DELETE FROM counters WHERE app_id = $1", app_id)
        deleted: int = deleted_rows(await conn.execute("DELETE FROM lines WHERE app_id = $1", app_id))
        await conn.execute("DELETE FROM origins WHERE app_id = $1", app_id)
        return deleted


async def held_apps(pool: asyncpg.Pool) -> set[str]:
    return {row["app_id"] for row in await pool.fetch(_HELD_APPS)}


def app_lines_cleanup(pool: asyncpg.Pool) -> AppCleanup:
    return AppCleanup(
        service="logs", what="log line(s)", delete=partial(delete_app_lines, pool), held=partial(held_apps, pool)
    )
