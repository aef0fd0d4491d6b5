"""When an app is deleted, every log line it left is deleted too (idempotent: redelivery is harmless).

A tombstone in ``deleted_apps`` makes the ingester drop batches of the app that arrive late
(a collector still flushing), so its lines never come back.

The AppDeleted event can be lost, so the service also resyncs from the API's app list at start
and every minute (ADR 0018): the lines of an app that no longer exists are deleted the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import asyncpg
from berth_shared import resync
from berth_shared.contracts.apps import AppDeleted
from berth_shared.contracts.base import decode
from berth_shared.contracts.owner_state import AppFacts
from nats.aio.client import Client
from nats.aio.msg import Msg

log = logging.getLogger("berth.logs.cleanup")


def deleted_rows(status: str) -> int:
    """The row count of a ``DELETE n`` command status."""
    return int(status.rsplit(" ", 1)[-1])


# Every app id with lines (a loose index scan of lines_app_id_id: one probe per app, not per line),
# settings or counters, that is not deleted already.
_HELD_APPS = """
WITH RECURSIVE ids AS (
    (SELECT app_id FROM lines ORDER BY app_id LIMIT 1)
    UNION ALL
    SELECT (SELECT l.app_id FROM lines l WHERE l.app_id > ids.app_id ORDER BY l.app_id LIMIT 1)
    FROM ids WHERE ids.app_id IS NOT NULL
)
SELECT app_id FROM ids WHERE app_id IS NOT NULL
UNION SELECT app_id FROM retention
UNION SELECT app_id FROM counters
EXCEPT SELECT app_id FROM deleted_apps
"""


def stale_apps(held: Iterable[str], owner: Iterable[AppFacts]) -> set[str]:
    """Apps whose data the service holds but the API no longer has (``held`` read first)."""
    return set(held) - {app.app_id for app in owner}


class AppLinesCleanup:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def delete_app_lines(self, app_id: str) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO deleted_apps (app_id) VALUES ($1) ON CONFLICT DO NOTHING", app_id)
            await conn.execute("DELETE FROM retention WHERE app_id = $1", app_id)
            await conn.execute("DELETE FROM counters WHERE app_id = $1", app_id)
            return deleted_rows(await conn.execute("DELETE FROM lines WHERE app_id = $1", app_id))

    async def held_apps(self) -> set[str]:
        return {row["app_id"] for row in await self.pool.fetch(_HELD_APPS)}

    async def resync(self, nc: Client) -> set[str]:
        """Delete the data of every app the API no longer has (its AppDeleted was lost)."""
        held = await self.held_apps()  # before the request: see berth_shared.resync
        owner = await resync.owner_apps(nc, "logs")
        stale = stale_apps(held, owner.apps)
        for app_id in sorted(stale):
            count = await self.delete_app_lines(app_id)
            log.warning(
                "resync: deleted %d log line(s) of deleted app %s (its AppDeleted was lost)",
                count,
                app_id,
                extra={"app_id": app_id},
            )
        return stale

    async def on_app_deleted(self, msg: Msg) -> None:
        event = decode(msg.data, AppDeleted)
        count = await self.delete_app_lines(event.app_id)
        log.info("deleted %d log line(s) of app %s", count, event.app_id, extra={"app_id": event.app_id})
