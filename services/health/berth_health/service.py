"""The health process: its own schema, and the checks of deleted apps deleted with them."""

from __future__ import annotations

from berth_shared import bus
from berth_shared.service import ServiceContext
from berth_shared.streams import HEALTH_APP_DELETED

from berth_health.cleanup import AppChecksCleanup


async def main(ctx: ServiceContext) -> None:
    cleanup = AppChecksCleanup(ctx.pool)
    await bus.consume(ctx.js, HEALTH_APP_DELETED, cleanup.on_app_deleted, stop=ctx.stop)
