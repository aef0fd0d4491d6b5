"""The logs process: what it consumes (LogBatches into lines; deleted apps' lines removed), what
it answers on the bus (queries, counters, retention settings) and its background work
(retention, resync from the API). ``__main__`` only starts it."""

from __future__ import annotations

from berth_shared import bus, resync, tasks
from berth_shared.app_cleanup import AppCleanup
from berth_shared.contracts.logs import LOGS_QUERY, LOGS_RETENTION_GET, LOGS_RETENTION_SET, LOGS_STATS
from berth_shared.contracts.owner_state import RESYNC_SECONDS
from berth_shared.service import ServiceContext
from berth_shared.streams import LOGS_APP_DELETED, LOGS_BULK_LINES, LOGS_LINES, ConsumerSpec

from berth_logs import query, retention, stats
from berth_logs.cleanup import app_lines_cleanup
from berth_logs.ingest import Ingester

# The durable consumers the logs service owns (created at start, ``OWNED_CONSUMERS``).
CONSUMERS: list[ConsumerSpec] = [LOGS_APP_DELETED, LOGS_LINES, LOGS_BULK_LINES]


def responders(ctx: ServiceContext) -> dict[str, bus.Responder]:
    """Each query subject the logs service answers (queue group ``logs``) and its responder."""
    pool = ctx.pool
    return {
        LOGS_QUERY: lambda data: query.answer(pool, data),
        LOGS_RETENTION_GET: lambda data: retention.get(pool, data),
        LOGS_RETENTION_SET: lambda data: retention.put(pool, data),
        LOGS_STATS: lambda data: stats.get(pool, data),
    }


def appliers(cleanup: AppCleanup) -> dict[str, tuple[ConsumerSpec, bus.Handler]]:
    """The consumers applied one message at a time (by task name). ``logs-lines`` and
    ``logs-lines-bulk`` are pulled by the :class:`~berth_logs.ingest.Ingester` (a whole pull per
    transaction, prompt lines first)."""
    return {"app-deleted": (LOGS_APP_DELETED, cleanup.on_app_deleted)}


async def main(
    ctx: ServiceContext,
    retention_interval: float = retention.INTERVAL,
    resync_interval: float = RESYNC_SECONDS,
) -> None:
    cleanup = app_lines_cleanup(ctx.pool)
    ingester = Ingester(ctx.pool, ctx.js)
    for subject, responder in responders(ctx).items():
        await bus.serve(ctx.nc, subject, "logs", responder)
    await tasks.run_all(
        {
            "ingest": ingester.run(ctx.stop),
            "retention": retention.run(ctx.pool, ctx.stop, retention_interval),
            **{
                name: bus.consume(ctx.js, spec, handler, stop=ctx.stop)
                for name, (spec, handler) in appliers(cleanup).items()
            },
            "resync": resync.periodically(
                ctx.stop, lambda: cleanup.resync(ctx.nc), what="logs", interval=resync_interval
            ),
        }
    )
