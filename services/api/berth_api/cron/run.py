"""The scheduler's loop in the API process (ADR 0026 §4): each pass re-syncs the jobs of apps
whose live release changed, then handles every due job (``store.run_due``), then sleeps until
the earliest due time or at most :data:`IDLE` (so a newly live release's jobs are picked up
within it). The clock is injected: ``now()`` and ``sleep_until(instant)``.

Back from an absence (the API's start, or a sleep that overran: the process was stopped or
starved), the ends of runs the agent reported meanwhile may still wait in the bus; a pass would
read those runs as going and hold a ``forbid`` job's due time (or its catch-up) back. So before
such a pass the loop lets the run events that reached the bus be applied first (``settle``,
bounded: :func:`run_events_applied`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
from berth_shared.streams import API_RUN_EVENTS
from nats.js import JetStreamContext

from berth_api.cron import store

log = logging.getLogger("berth.api.cron")

IDLE = timedelta(seconds=1)
# A sleep that overran by more than this means the loop was away (stopped, starved).
AWAY = timedelta(seconds=2)
# How long a pass back from an absence waits at most for the run events to be applied.
SETTLE_SECONDS = 3.0

Now = Callable[[], datetime]
SleepUntil = Callable[[datetime], Awaitable[None]]
Settle = Callable[[], Awaitable[None]]


def was_away(expected_wake: datetime | None, now: datetime, away: timedelta = AWAY) -> bool:
    """Whether this pass comes back from an absence: the loop's first, or one whose sleep
    overran its wake time by more than ``away``."""
    return expected_wake is None or now - expected_wake > away


async def run_events_applied(js: JetStreamContext, timeout: float = SETTLE_SECONDS) -> None:
    """Wait until the API's run-events consumer has nothing pending or unacknowledged (each
    run end that reached the bus is applied), at most ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            info = await js.consumer_info(API_RUN_EVENTS.stream, API_RUN_EVENTS.durable)
        except Exception as exc:  # the bus is away: the pass goes on as before
            log.warning("cron: cannot read the run events' backlog: %s", exc)
            return
        if not info.num_pending and not info.num_ack_pending:
            return
        await asyncio.sleep(0.05)
    log.warning("cron: run events still pending after %.1f s; passing anyway", timeout)


def utc_now() -> datetime:
    return datetime.now(UTC)


class CronLoop:
    def __init__(
        self,
        pool: asyncpg.Pool,
        host: str,
        *,
        now: Now = utc_now,
        sleep_until: SleepUntil | None = None,
        idle: timedelta = IDLE,
        settle: Settle | None = None,
    ) -> None:
        self.pool = pool
        self.host = host
        self.now = now
        self.sleep_until = sleep_until or self._sleep_until
        self.idle = idle
        self.settle = settle

    async def _sleep_until(self, instant: datetime) -> None:
        await asyncio.sleep(max(0.0, (instant - self.now()).total_seconds()))

    async def pass_once(self) -> list[store.Handled]:
        await store.sync(self.pool, self.now())
        handled = await store.run_due(self.pool, self.host, self.now)
        for h in handled:
            d = h.decision
            if d.missed is not None:
                log.warning("cron %s/%s: %d due time(s) missed", h.app_id, h.job, d.missed.count)
            if d.skipped is not None:
                log.info("cron %s/%s: due %s skipped: %s", h.app_id, h.job, d.skipped.due_at, d.skipped.reason)
        return handled

    async def next_wake(self) -> datetime:
        wake = self.now() + self.idle
        earliest = await store.earliest_due(self.pool)
        return min(wake, earliest) if earliest is not None else wake

    async def run(self, stop: asyncio.Event) -> None:
        expected: datetime | None = None
        while not stop.is_set():
            try:
                if self.settle is not None and was_away(expected, self.now()):
                    await self.settle()
                await self.pass_once()
                wake = await self.next_wake()
            except Exception as exc:  # the database went away: try again after a pause
                log.warning("cron pass failed, will retry: %s", exc)
                wake = self.now() + self.idle
            expected = wake
            await self.sleep_until(wake)
