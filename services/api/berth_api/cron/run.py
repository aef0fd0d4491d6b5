"""The scheduler's loop in the API process (ADR 0026 §4): each pass re-syncs the jobs of apps
whose live release changed, then handles every due job (``store.run_due``), then sleeps until
the earliest due time or at most :data:`IDLE` (so a newly live release's jobs are picked up
within it). The clock is injected: ``now()`` and ``sleep_until(instant)``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from berth_api.cron import store

log = logging.getLogger("berth.api.cron")

IDLE = timedelta(seconds=1)

Now = Callable[[], datetime]
SleepUntil = Callable[[datetime], Awaitable[None]]


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
    ) -> None:
        self.pool = pool
        self.host = host
        self.now = now
        self.sleep_until = sleep_until or self._sleep_until
        self.idle = idle

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
        while not stop.is_set():
            try:
                await self.pass_once()
                wake = await self.next_wake()
            except Exception as exc:  # the database went away: try again after a pause
                log.warning("cron pass failed, will retry: %s", exc)
                wake = self.now() + self.idle
            await self.sleep_until(wake)
