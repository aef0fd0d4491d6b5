"""When an app is deleted, its whole check history is deleted too: the health service's SQL for
``berth_shared.app_cleanup`` (the AppDeleted applier; the resync from the API's app list runs it
after the targets' own, ``CheckTargets.resync``, ADR 0018)."""

from __future__ import annotations

from functools import partial

import asyncpg
from berth_shared.app_cleanup import AppCleanup
from berth_shared.db import app_ids_sql, deleted_rows

# Every app id with check history (a loose index scan: one probe per app).
_CHECKED_APPS = app_ids_sql("checks")


async def delete_app_checks(pool: asyncpg.Pool, app_id: str) -> int:
    return deleted_rows(await pool.execute("DELETE FROM checks WHERE app_id = $1", app_id))


async def checked_apps(pool: asyncpg.Pool) -> set[str]:
    return {row["app_id"] for row in await pool.fetch(_CHECKED_APPS)}


def app_checks_cleanup(pool: asyncpg.Pool) -> AppCleanup:
    return AppCleanup(
        service="health",
        what="health check(s)",
        delete=partial(delete_app_checks, pool),
        held=partial(checked_apps, pool),
    )
