"""When an app is deleted, its whole check history is deleted too (idempotent: redelivery is harmless)."""

from __future__ import annotations

import logging

import asyncpg
from berth_shared.contracts.apps import AppDeleted
from berth_shared.contracts.base import decode
from nats.aio.msg import Msg

log = logging.getLogger("berth.health.cleanup")


def deleted_rows(status: str) -> int:
    """The row count of a ``DELETE n`` command status."""
    return int(status.rsplit(" ", 1)[-1])


class AppChecksCleanup:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def delete_app_checks(self, app_id: str) -> int:
        return deleted_rows(await self.pool.execute("DELETE FROM checks WHERE app_id = $1", app_id))

    async def on_app_deleted(self, msg: Msg) -> None:
        event = decode(msg.data, AppDeleted)
        count = await self.delete_app_checks(event.app_id)
        log.info("deleted %d health check(s) of app %s", count, event.app_id, extra={"app_id": event.app_id})
