"""The logs process: its own schema, and the lines of deleted apps deleted with them."""

from __future__ import annotations

from berth_shared import bus
from berth_shared.service import ServiceContext
from berth_shared.streams import LOGS_APP_DELETED

from berth_logs.cleanup import AppLinesCleanup


async def main(ctx: ServiceContext) -> None:
    cleanup = AppLinesCleanup(ctx.pool)
    await bus.consume(ctx.js, LOGS_APP_DELETED, cleanup.on_app_deleted, stop=ctx.stop)
