"""Check history retention: older than the age limit (default 7 days) or beyond the per-app cap
(default 100,000 checks) is deleted, in chunks, every minute."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

import asyncpg

log = logging.getLogger("berth.health.retention")

MAX_AGE_DAYS = int(os.environ.get("BERTH_HEALTH_RETENTION_DAYS", "7"))
MAX_PER_APP = int(os.environ.get("BERTH_HEALTH_MAX_CHECKS_PER_APP", "100000"))
INTERVAL = 60.0
CHUNK = 10_000


async def enforce(pool: asyncpg.Pool, max_age_days: int = MAX_AGE_DAYS, max_per_app: int = MAX_PER_APP) -> int:
    deleted = 0
    while True:
        status = await pool.execute(
            "DELETE FROM checks WHERE id IN (SELECT id FROM checks WHERE ts < now() - make_interval(days => $1) "
            "LIMIT $2)",
            max_age_days,
            CHUNK,
        )
        n = int(status.rsplit(" ", 1)[-1])
        deleted += n
        if n < CHUNK:
            break
    for row in await pool.fetch("SELECT DISTINCT app_id FROM checks"):
        cutoff = await pool.fetchval(
            "SELECT id FROM checks WHERE app_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1", row["app_id"], max_per_app
        )
        if cutoff is not None:
            status = await pool.execute("DELETE FROM checks WHERE app_id = $1 AND id <= $2", row["app_id"], cutoff)
            deleted += int(status.rsplit(" ", 1)[-1])
    return deleted


async def run(pool: asyncpg.Pool, stop: asyncio.Event, interval: float = INTERVAL) -> None:
    while not stop.is_set():
        try:
            if n := await enforce(pool):
                log.info("retention deleted %d check results", n)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("health retention failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
