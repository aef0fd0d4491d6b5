"""The scheduler's loop with a fake clock over real Postgres: it sleeps until the next due time,
starts one run per due time, and a restarted loop (a new one on the same tables) neither repeats
nor loses a due time (ADR 0026 §4)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from berth_api import apps_store
from berth_api.cron import store
from berth_api.cron.run import CronLoop, was_away
from berth_api.validation import CreateApp

pytestmark = pytest.mark.integration

T0 = datetime(2031, 6, 1, 8, 0, tzinfo=UTC)


class FakeClock:
    """Time moves only when the loop sleeps; the loop stops after ``until``."""

    def __init__(self, at: datetime, until: datetime, stop: asyncio.Event) -> None:
        self.at, self.until, self.stop = at, until, stop
        self.wakes: list[datetime] = []

    def now(self) -> datetime:
        return self.at

    async def sleep_until(self, instant: datetime) -> None:
        self.wakes.append(instant)
        self.at = max(self.at, instant)
        if self.at >= self.until:
            self.stop.set()


async def app_with_job(pool: asyncpg.Pool, infra: Any, job: str) -> asyncpg.Record:
    """An app whose live release states the one cron job ``job`` (JSON); other tests' jobs are
    pushed a century away so the loop sees only this one."""
    async with pool.acquire() as conn:
        app = await apps_store.create_app(
            conn, CreateApp(name=f"l{uuid.uuid4().hex[:10]}"), infra.settings.subnet_pool, "test"
        )
    await pool.execute("UPDATE cron_jobs SET next_due_at = next_due_at + interval '100 years'")
    release_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO releases (id, app_id, version, kind, image, status, formation) "
        "VALUES ($1, $2, 1, 'deploy', 'img:1', 'live', $3::jsonb)",
        release_id,
        app["id"],
        f'{{"cron": [{job}]}}',
    )
    await pool.execute("UPDATE apps SET current_release_id = $2 WHERE id = $1", app["id"], release_id)
    return app


async def test_the_loop_runs_each_due_time_once_across_a_restart(pool: asyncpg.Pool, infra: Any) -> None:
    app = await app_with_job(pool, infra, '{"name": "beat", "schedule": "@every 30s", "command": ["true"]}')

    stop = asyncio.Event()
    clock = FakeClock(T0, T0 + timedelta(seconds=95), stop)
    await CronLoop(pool, "h", now=clock.now, sleep_until=clock.sleep_until, idle=timedelta(seconds=10)).run(stop)
    # synced at T0: due at +30, +60, +90; the loop slept until each (or 10 s when sooner)
    assert T0 + timedelta(seconds=30) in clock.wakes and T0 + timedelta(seconds=90) in clock.wakes
    # a new loop (the API restarted) 20 s later carries on from the stored due time
    stop = asyncio.Event()
    clock = FakeClock(clock.at + timedelta(seconds=20), T0 + timedelta(seconds=185), stop)
    await CronLoop(pool, "h", now=clock.now, sleep_until=clock.sleep_until, idle=timedelta(seconds=10)).run(stop)
    runs = await pool.fetch("SELECT due_at, status, late_ms FROM runs WHERE app_id = $1 ORDER BY due_at", app["id"])
    assert [(r["due_at"] - T0).total_seconds() for r in runs] == [30, 60, 90, 120, 150, 180]
    # the first run never finishes here, so forbid (the default) skips the others
    assert [r["status"] for r in runs] == ["pending"] + ["skipped"] * 5
    assert runs[0]["late_ms"] == 0
    assert [j["name"] for j in await store.jobs(pool, app["id"])] == ["beat"]


async def test_a_job_every_minute_has_one_entry_per_minute_across_a_restart_mid_schedule(
    pool: asyncpg.Pool, infra: Any
) -> None:
    """The issue's proof with a 5-field schedule (``* * * * *``): the loop stops 20 s into a minute
    and a new one starts 30 s later, before the next due time; every minute has exactly one entry."""
    job = '{"name": "minutely", "schedule": "* * * * *", "command": ["true"], "concurrency": "allow"}'
    app = await app_with_job(pool, infra, job)
    start = T0 + timedelta(seconds=5)

    stop = asyncio.Event()
    clock = FakeClock(start, T0 + timedelta(minutes=2, seconds=20), stop)
    await CronLoop(pool, "h", now=clock.now, sleep_until=clock.sleep_until, idle=timedelta(seconds=10)).run(stop)
    stop = asyncio.Event()
    clock = FakeClock(clock.at + timedelta(seconds=30), T0 + timedelta(minutes=5, seconds=5), stop)
    await CronLoop(pool, "h", now=clock.now, sleep_until=clock.sleep_until, idle=timedelta(seconds=10)).run(stop)

    rows = await pool.fetch("SELECT due_at, status, trigger FROM runs WHERE app_id = $1 ORDER BY due_at", app["id"])
    assert [r["due_at"] - T0 for r in rows] == [timedelta(minutes=m) for m in range(1, 6)]  # none skipped or doubled
    assert {r["trigger"] for r in rows} == {"schedule"}
    # allow: at most 3 unfinished at once, the due times beyond are recorded as skipped
    assert [r["status"] for r in rows] == ["pending"] * 3 + ["skipped"] * 2


def test_a_pass_is_back_from_an_absence_first_or_after_a_sleep_that_overran() -> None:
    assert was_away(None, T0)  # the loop's first pass (the API started)
    assert not was_away(T0, T0 + timedelta(seconds=1))  # woke a little late: still here
    assert was_away(T0, T0 + timedelta(seconds=13))  # the process was stopped or starved


async def test_the_loop_lets_run_events_apply_before_a_pass_back_from_an_absence(
    pool: asyncpg.Pool, infra: Any
) -> None:
    """The first pass and the one after a sleep that overran (the API frozen 60 s) wait for the
    run events first; passes on time do not."""
    app = await app_with_job(pool, infra, '{"name": "beat", "schedule": "@every 30s", "command": ["true"]}')
    stop = asyncio.Event()
    clock = FakeClock(T0, T0 + timedelta(seconds=150), stop)
    settled: list[datetime] = []
    frozen = {"done": False}

    async def sleep_until(instant: datetime) -> None:
        if instant >= T0 + timedelta(seconds=40) and not frozen["done"]:
            frozen["done"] = True
            instant += timedelta(seconds=60)
        await clock.sleep_until(instant)

    async def settle() -> None:
        settled.append(clock.now())

    loop = CronLoop(pool, "h", now=clock.now, sleep_until=sleep_until, idle=timedelta(seconds=10), settle=settle)
    await loop.run(stop)
    assert settled == [T0, T0 + timedelta(seconds=100)]
    query = "SELECT due_at, missed_count FROM runs WHERE app_id = $1 AND status = 'missed'"
    missed = await pool.fetchrow(query, app["id"])
    assert missed is not None and (missed["due_at"] - T0, missed["missed_count"]) == (timedelta(seconds=90), 2)
