"""When an app is deleted, every log line it left is deleted too (idempotent: redelivery is harmless).

A tombstone in ``deleted_apps`` makes the ingester drop batches of the app that arrive late
(a collector still flushing), so its lines never come back.
"""

from __future__ import annotations

import logging

import asyncpg
from berth_shared.contracts.apps import AppDeleted
from berth_shared.contracts.base import decode
from nats.aio.msg import Msg

log = logging.getLogger("berth.logs.cleanup")


def deleted_rows(status: str) -> int:
    """The row count of a ``DELETE n`` command status."""
    return int(status.rsplit(" ", 1)[-1])


class AppLinesCleanup:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def delete_app_lines(self, app_id: str) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO deleted_apps (app_id) VALUES ($1) ON CONFLICT DO NOTHING", app_id)
            await conn.execute("DELETE FROM retention WHERE app_id = $1", app_id)
            await conn.execute("DELETE FROM counters WHERE app_id = $1", app_id)
            return deleted_rows(await conn.execute("DELETE FROM lines WHERE app_id = $1", app_id))

    async def on_app_deleted(self, msg: Msg) -> None:
        event = decode(msg.data, AppDeleted)
        count = await self.delete_app_lines(event.app_id)
        log.info("deleted %d log line(s) of app %s", count, event.app_id, extra={"app_id": event.app_id})
