"""The health process: what it consumes (apps and live slots, deleted apps, health transitions
for webhook alerts), what it answers on the bus (status, webhooks) and its background work (checks on
schedule, webhook delivery, retention, resync from the API). ``__main__`` only starts it."""

from __future__ import annotations

from berth_shared import bus, resync, tasks
from berth_shared.app_cleanup import AppCleanup
from berth_shared.contracts.health import (
    HEALTH_STATES_LIST,
    HEALTH_STATUS_GET,
    WEBHOOKS_CREATE,
    WEBHOOKS_DELETE,
    WEBHOOKS_DELIVERIES,
    WEBHOOKS_LIST,
)
from berth_shared.contracts.owner_state import RESYNC_SECONDS
from berth_shared.netplan import slot_address
from berth_shared.service import ServiceContext
from berth_shared.streams import (
    HEALTH_AGENT_EVENTS,
    HEALTH_ALERTS,
    HEALTH_APP_DELETED,
    HEALTH_APP_EVENTS,
    HEALTH_CRON_EVENTS,
    ConsumerSpec,
)

from berth_health import query, retention
from berth_health.check_targets import CheckTargets
from berth_health.checker import Checker, CheckRow
from berth_health.cleanup import app_checks_cleanup
from berth_health.instances import AddressOf
from berth_health.webhooks import Webhooks

# The durable consumers the health service owns (created at start, ``OWNED_CONSUMERS``).
CONSUMERS: list[ConsumerSpec] = [
    HEALTH_APP_DELETED,
    HEALTH_APP_EVENTS,
    HEALTH_AGENT_EVENTS,
    HEALTH_ALERTS,
    HEALTH_CRON_EVENTS,
]
COLUMNS = ["app_id", "release_id", "slot", "ts", "status_code", "error", "latency_ms", "ok"]


def responders(ctx: ServiceContext, checker: Checker, webhooks: Webhooks) -> dict[str, bus.Responder]:
    """Each query subject the health service answers (queue group ``health``) and its responder."""
    return {
        HEALTH_STATUS_GET: lambda data: query.answer(ctx.pool, checker, data),
        HEALTH_STATES_LIST: lambda data: query.states(ctx.pool, checker, data),
        WEBHOOKS_CREATE: webhooks.create,
        WEBHOOKS_LIST: webhooks.list_webhooks,
        WEBHOOKS_DELETE: webhooks.delete,
        WEBHOOKS_DELIVERIES: webhooks.deliveries,
    }


def appliers(
    cleanup: AppCleanup, targets: CheckTargets, webhooks: Webhooks
) -> dict[str, tuple[ConsumerSpec, bus.Handler]]:
    """Each consumer the health service pulls from and the applier of its events (by task name)."""
    return {
        "app-deleted": (HEALTH_APP_DELETED, cleanup.on_app_deleted),
        "app-events": (HEALTH_APP_EVENTS, targets.on_app_event),
        "agent-events": (HEALTH_AGENT_EVENTS, targets.on_agent_event),
        "alerts": (HEALTH_ALERTS, webhooks.on_health_event),
        "cron-events": (HEALTH_CRON_EVENTS, webhooks.on_cron_event),
    }


async def main(
    ctx: ServiceContext,
    *,
    address_of: AddressOf = slot_address,
    webhooks: Webhooks | None = None,
    retention_interval: float = retention.INTERVAL,
    resync_interval: float = RESYNC_SECONDS,
) -> None:
    cleanup = app_checks_cleanup(ctx.pool)
    webhooks = webhooks or Webhooks(ctx.pool)

    async def write(rows: list[CheckRow]) -> None:
        async with ctx.pool.acquire() as conn:
            await conn.copy_records_to_table("checks", records=rows, columns=COLUMNS)

    checker = Checker(on_results=write)
    targets = CheckTargets(ctx.pool, ctx.js, checker, webhooks, address_of)
    checker.on_change = targets.on_change
    await targets.load()

    for subject, responder in responders(ctx, checker, webhooks).items():
        await bus.serve(ctx.nc, subject, "health", responder)
    await tasks.run_all(
        {
            "checker": checker.run(ctx.stop),
            "webhooks": webhooks.run(ctx.stop),
            "retention": retention.run(ctx.pool, ctx.stop, retention_interval),
            **{
                name: bus.consume(ctx.js, spec, handler, stop=ctx.stop)
                for name, (spec, handler) in appliers(cleanup, targets, webhooks).items()
            },
            "resync": resync.periodically(
                ctx.stop, lambda: targets.resync(ctx.nc, cleanup), what="health", interval=resync_interval
            ),
        }
    )
