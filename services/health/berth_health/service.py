"""The health process: learns apps and live slots from the bus, checks them on schedule, keeps
the history, publishes transitions, delivers alerts, enforces retention, and deletes the checks
of deleted apps."""

from __future__ import annotations

import asyncio

from berth_shared import bus, resync
from berth_shared.contracts.health import (
    HEALTH_STATUS_GET,
    WEBHOOKS_CREATE,
    WEBHOOKS_DELETE,
    WEBHOOKS_DELIVERIES,
    WEBHOOKS_LIST,
)
from berth_shared.contracts.owner_state import RESYNC_SECONDS
from berth_shared.netplan import slot_address
from berth_shared.service import ServiceContext
from berth_shared.streams import HEALTH_AGENT_EVENTS, HEALTH_ALERTS, HEALTH_APP_DELETED, HEALTH_APP_EVENTS

from berth_health import query, retention
from berth_health.alerts import Alerts
from berth_health.checker import Checker, CheckRow
from berth_health.cleanup import AppChecksCleanup
from berth_health.tracker import AddressOf, Tracker

CONSUMERS = [HEALTH_APP_DELETED, HEALTH_APP_EVENTS, HEALTH_AGENT_EVENTS, HEALTH_ALERTS]
COLUMNS = ["app_id", "release_id", "slot", "ts", "status_code", "error", "latency_ms", "ok"]


async def main(
    ctx: ServiceContext,
    *,
    address_of: AddressOf = slot_address,
    alerts: Alerts | None = None,
    retention_interval: float = retention.INTERVAL,
    resync_interval: float = RESYNC_SECONDS,
) -> None:
    cleanup = AppChecksCleanup(ctx.pool)
    alerts = alerts or Alerts(ctx.pool)

    async def write(rows: list[CheckRow]) -> None:
        async with ctx.pool.acquire() as conn:
            await conn.copy_records_to_table("checks", records=rows, columns=COLUMNS)

    checker = Checker(on_results=write)
    tracker = Tracker(ctx.pool, ctx.js, checker, alerts, address_of)
    checker.on_change = tracker.on_change
    await tracker.load()

    await bus.serve(ctx.nc, HEALTH_STATUS_GET, "health", lambda data: query.answer(ctx.pool, checker, data))
    await bus.serve(ctx.nc, WEBHOOKS_CREATE, "health", alerts.create)
    await bus.serve(ctx.nc, WEBHOOKS_LIST, "health", alerts.list_webhooks)
    await bus.serve(ctx.nc, WEBHOOKS_DELETE, "health", alerts.delete)
    await bus.serve(ctx.nc, WEBHOOKS_DELIVERIES, "health", alerts.deliveries)
    tasks = [
        asyncio.create_task(checker.run(ctx.stop), name="checker"),
        asyncio.create_task(alerts.run(ctx.stop), name="webhooks"),
        asyncio.create_task(retention.run(ctx.pool, ctx.stop, retention_interval), name="retention"),
        asyncio.create_task(bus.consume(ctx.js, HEALTH_APP_DELETED, cleanup.on_app_deleted, stop=ctx.stop)),
        asyncio.create_task(bus.consume(ctx.js, HEALTH_APP_EVENTS, tracker.on_app_event, stop=ctx.stop)),
        asyncio.create_task(bus.consume(ctx.js, HEALTH_AGENT_EVENTS, tracker.on_agent_event, stop=ctx.stop)),
        asyncio.create_task(bus.consume(ctx.js, HEALTH_ALERTS, alerts.on_health_event, stop=ctx.stop)),
        asyncio.create_task(
            resync.periodically(ctx.stop, lambda: tracker.resync(ctx.nc), what="health", interval=resync_interval),
            name="resync",
        ),
    ]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
