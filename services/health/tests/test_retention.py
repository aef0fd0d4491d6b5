"""Check history retention against the health service's real Postgres schema: checks older
than the age limit go, each app keeps only its newest checks beyond the per-app cap, other
apps' checks are untouched; the documented defaults are 7 days and 100,000 checks per app,
and the service's retention loop applies them without being asked."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from berth_cli.launcher.platform import Platform
from berth_health import retention
from berth_health.migrations import MIGRATIONS
from berth_shared import db
from berth_shared.settings import ServiceEnv
from berth_testing import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(infra: Platform) -> AsyncIterator[asyncpg.Pool]:
    env = ServiceEnv.from_env(infra.service_env("health"))
    assert env.database_url is not None
    pool = await db.create_pool(env.database_url, "health", max_size=2)
    await db.migrate(pool, "health", MIGRATIONS)
    try:
        yield pool
    finally:
        await pool.close()


async def record(pool: asyncpg.Pool, app_id: str, ages: list[timedelta]) -> None:
    """One check per age, oldest first (ids grow with time, as the checker writes them)."""
    now = datetime.now(UTC)
    await pool.executemany(
        "INSERT INTO checks (app_id, release_id, slot, ts, status_code, error, latency_ms)"
        " VALUES ($1, 'rel', 'a', $2, 200, NULL, 3)",
        [(app_id, now - age) for age in sorted(ages, reverse=True)],
    )


async def ages_of(pool: asyncpg.Pool, app_id: str) -> list[int]:
    rows = await pool.fetch("SELECT now() - ts AS age FROM checks WHERE app_id = $1 ORDER BY id", app_id)
    return [round(r["age"].total_seconds() / 86400) for r in rows]


def test_the_documented_defaults() -> None:
    assert (retention.MAX_AGE_DAYS, retention.MAX_PER_APP) == (7, 100_000)


async def test_old_checks_go_and_each_app_keeps_its_newest_up_to_the_cap(pool: asyncpg.Pool) -> None:
    busy, quiet = uuid.uuid4().hex, uuid.uuid4().hex
    await record(pool, busy, [timedelta(days=d) for d in (9, 8, 6, 5, 4, 3, 2, 1, 0)])
    await record(pool, quiet, [timedelta(days=d) for d in (10, 2)])

    assert await retention.enforce(pool, max_age_days=7, max_per_app=5) >= 2 + 2 + 1
    # busy: 9 and 8 days are too old; of the seven left, the newest five are kept.
    assert await ages_of(pool, busy) == [4, 3, 2, 1, 0]
    assert await ages_of(pool, quiet) == [2]
    # Enforcing again changes nothing of these apps.
    await retention.enforce(pool, max_age_days=7, max_per_app=5)
    assert await ages_of(pool, busy) == [4, 3, 2, 1, 0]


async def test_the_retention_loop_enforces_the_limits_on_its_own(pool: asyncpg.Pool) -> None:
    app_id = uuid.uuid4().hex
    await record(pool, app_id, [timedelta(days=30), timedelta(days=8), timedelta(days=1)])
    stop = asyncio.Event()
    task = asyncio.create_task(retention.run(pool, stop, interval=0.05))
    try:

        async def trimmed() -> bool:
            return await ages_of(pool, app_id) == [1]

        await eventually(trimmed, within=60, what="the loop to delete checks older than 7 days")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
