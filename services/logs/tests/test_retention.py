"""Retention: each app's effective limits, the trim plan, out-of-range values refused, and the
search index's chunks trimmed with their lines."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from berth_logs import ingest, retention
from berth_logs.retention import Trim, trim_app
from berth_shared.contracts.logs import LogQuery, SetRetention
from berth_shared.errors import ValidationFailed
from log_pages import T0, rows_of_app, scanned, searched


def test_retention_defaults_apply_until_an_app_sets_its_own() -> None:
    default = retention.effective("a", None, None)
    assert (default.max_age_days, default.max_lines, default.custom_age) == (7, 1_000_000, False)
    custom = retention.effective("a", 2, None)
    assert (custom.max_age_days, custom.max_lines) == (2, 1_000_000)
    assert (custom.custom_age, custom.custom_lines) == (True, False)


def test_the_retention_plan_trims_each_app_by_its_own_limits() -> None:
    now = datetime(2024, 6, 10, tzinfo=UTC)
    plan = retention.plan([retention.effective("a", None, None), retention.effective("b", 1, 50)], now)
    assert plan == [
        retention.Trim("a", now - timedelta(days=7), 1_000_000),
        retention.Trim("b", now - timedelta(days=1), 50),
    ]


def test_retention_values_out_of_range_are_refused_naming_the_field() -> None:
    with pytest.raises(ValidationFailed) as err:
        retention.check(SetRetention(app_id="a", max_age_days=0))
    assert err.value.details[0].field == "maxAgeDays"
    with pytest.raises(ValidationFailed) as err:
        retention.check(SetRetention(app_id="a", max_lines=10**9))
    assert err.value.details[0].field == "maxLines"
    retention.check(SetRetention(app_id="a", max_age_days=30, max_lines=10))


async def chunks_of(pool: asyncpg.Pool, app_id: str) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM chunks WHERE app_id = $1", app_id))


@pytest.mark.integration
async def test_a_chunk_partly_trimmed_still_finds_its_lines_left_and_goes_with_its_last(pool: asyncpg.Pool) -> None:
    app = f"app{uuid.uuid4().hex[:10]}"
    messages = [f"line {i} {'needle' if i % 50 == 25 else 'hay'}" for i in range(300)]
    async with pool.acquire() as conn:
        await ingest.store(conn, rows_of_app(app, messages))  # chunks of 256 and 44 lines
    needles = LogQuery(app_id=app, q="NEEDLE", tail=True)
    long_ago = T0 - timedelta(days=1)

    async def trim(older_than: datetime, keep: int) -> None:
        async with pool.acquire() as conn:
            await trim_app(conn, Trim(app, older_than, keep))

    await trim(long_ago, keep=100)  # lines 0-199 go: the first chunk keeps 56 of its lines
    assert await chunks_of(pool, app) == 2
    found, _, _ = await searched(pool, needles)
    assert [m for _, m in found] == ["line 225 needle", "line 275 needle"]
    assert found == await scanned(pool, needles)

    await trim(long_ago, keep=40)  # the first chunk's last line goes: so does the chunk
    assert await chunks_of(pool, app) == 1
    assert [m for _, m in (await searched(pool, needles))[0]] == ["line 275 needle"]

    await trim(T0 + timedelta(days=1), keep=40)  # every line is past the age limit
    assert await chunks_of(pool, app) == 0
    assert (await searched(pool, needles))[0] == []


@pytest.mark.integration
async def test_an_app_at_its_line_limit_keeps_every_line_and_one_past_it_loses_its_oldest(pool: asyncpg.Pool) -> None:
    app = f"app{uuid.uuid4().hex[:10]}"
    async with pool.acquire() as conn:
        await ingest.store(conn, rows_of_app(app, [f"line {i}" for i in range(300)]))
        await ingest.store(conn, rows_of_app(app, [f"line {i}" for i in range(250, 310)], 250))  # 10 new
        long_ago = T0 - timedelta(days=1)
        assert await trim_app(conn, Trim(app, long_ago, keep=310)) == 0
        assert await trim_app(conn, Trim(app, long_ago, keep=309)) == 1
        assert await trim_app(conn, Trim(app, long_ago, keep=1000)) == 0
    left, _, _ = await searched(pool, LogQuery(app_id=app, tail=True, limit=500))
    assert [m for _, m in left] == [f"line {i}" for i in range(1, 310)]
