"""The logs process: ingest LogBatches, answer queries, counters and retention settings, enforce
retention, and delete the lines of deleted apps (on their event, and by resync from the API)."""

from __future__ import annotations

import asyncio

from berth_shared import bus, resync
from berth_shared.contracts.logs import LOGS_QUERY, LOGS_RETENTION_GET, LOGS_RETENTION_SET, LOGS_STATS
from berth_shared.contracts.owner_state import RESYNC_SECONDS
from berth_shared.service import ServiceContext
from berth_shared.streams import LOGS_APP_DELETED

from berth_logs import query, retention, stats
from berth_logs.cleanup import AppLinesCleanup
from berth_logs.ingest import Ingester


async def main(
    ctx: ServiceContext,
    retention_interval: float = retention.INTERVAL,
    resync_interval: float = RESYNC_SECONDS,
) -> None:
    cleanup = AppLinesCleanup(ctx.pool)
    ingester = Ingester(ctx.pool, ctx.js)
    await bus.serve(ctx.nc, LOGS_QUERY, "logs", lambda data: query.answer(ctx.pool, data))
    await bus.serve(ctx.nc, LOGS_RETENTION_GET, "logs", lambda data: retention.get(ctx.pool, data))
    await bus.serve(ctx.nc, LOGS_RETENTION_SET, "logs", lambda data: retention.put(ctx.pool, data))
    await bus.serve(ctx.nc, LOGS_STATS, "logs", lambda data: stats.get(ctx.pool, data))
    tasks = [
        asyncio.create_task(ingester.run(ctx.stop), name="ingest"),
        asyncio.create_task(retention.run(ctx.pool, ctx.stop, retention_interval), name="retention"),
        asyncio.create_task(bus.consume(ctx.js, LOGS_APP_DELETED, cleanup.on_app_deleted, stop=ctx.stop)),
        asyncio.create_task(
            resync.periodically(ctx.stop, lambda: cleanup.resync(ctx.nc), what="logs", interval=resync_interval),
            name="resync",
        ),
    ]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
