"""Searching through the index's chunks: the SQL that picks chunks, the order ranges are read in,
and, against Postgres, pages identical to a scan of the lines (hits inside chunks, pages across
chunks, chunks past the walk)."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from berth_logs import ingest, search
from berth_shared.contracts.logs import LogQuery
from log_pages import T0, rows_of_app, scanned, searched


def test_ranges_that_touch_or_overlap_are_read_as_one_in_the_pages_order() -> None:
    chunks = [(20, 29), (1, 10), (11, 15), (40, 50), (45, 60)]
    assert search.ranges_in_order(chunks, newest_first=False) == [(1, 15), (20, 29), (40, 60)]
    assert search.ranges_in_order(chunks, newest_first=True) == [(40, 60), (20, 29), (1, 15)]


def test_ranges_are_read_a_few_first_then_more_at_a_time() -> None:
    ranges = [(i, i) for i in range(200)]
    sizes = [len(b) for b in search.batches(ranges)]
    assert sizes == [8, 32, 128, 32]
    assert [r for b in search.batches(ranges) for r in b] == ranges


def test_the_walk_reads_chunks_from_the_pages_start_with_its_bounds() -> None:
    tail = LogQuery(app_id="a1", q="x", tail=True, before_id=500)
    text, args = search.walk_sql(tail, ["%x%"], None, T0)
    assert "first_id < $2" in text and "first_ts < $3" in text and "ORDER BY first_id DESC" in text
    assert "words LIKE lower($4) AS hit" in text
    assert args == ["a1", 500, T0, "%x%", search.WALK]

    forward = LogQuery(app_id="a1", q="x", after_id=7)
    text, args = search.walk_sql(forward, ["%x %", "% y%"], T0, None)
    assert "last_id > $2" in text and "last_ts >= $3" in text and "ORDER BY last_id ASC" in text
    assert args == ["a1", 7, T0, "%x %", "% y%", search.WALK]


def test_the_rest_is_asked_of_the_index_past_the_walk() -> None:
    text, args = search.rest_sql(LogQuery(app_id="a1", q="x", tail=True), ["%x%"], None, None, beyond=900)
    assert text.endswith("WHERE app_id = $1 AND first_id < $2 AND words LIKE lower($3)")
    assert args == ["a1", 900, "%x%"]
    text, _ = search.rest_sql(LogQuery(app_id="a1", q="x", after_id=3), ["%x%"], None, None, beyond=900)
    assert "last_id > $2 AND last_id > $3" in text


def new_app() -> str:
    return f"app{uuid.uuid4().hex[:10]}"


@pytest.mark.integration
async def test_a_line_in_the_middle_of_a_chunk_is_found(pool: asyncpg.Pool) -> None:
    app = new_app()
    messages = [f"GET /items/{i} 200" for i in range(256)]
    messages[128] = "payment FAILED: card_declined (order 77)"
    async with pool.acquire() as conn:
        await ingest.store(conn, rows_of_app(app, messages))
    assert await pool.fetchval("SELECT count(*) FROM chunks WHERE app_id = $1", app) == 1
    for q in ("failed", "card_declined", "D: CARD", "(order 77)", "ment fail"):
        items, _, _ = await searched(pool, LogQuery(app_id=app, q=q, tail=True))
        assert [m for _, m in items] == [messages[128]], q
    assert (await searched(pool, LogQuery(app_id=app, q="order 78")))[0] == []


@pytest.mark.integration
@pytest.mark.parametrize("walk", [2, search.WALK])
async def test_pages_across_chunks_are_the_pages_of_a_scan(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch, walk: int
) -> None:
    """Matches spread over many chunks (and, with a short walk, past it): paging back from the
    tail and forward from a cursor gives the lines a scan gives, in the same pages."""
    monkeypatch.setattr(search, "WALK", walk)
    app, other = new_app(), new_app()
    rng = random.Random(5)
    async with pool.acquire() as conn:
        for pull in range(6):  # pulls of 700 lines: chunks of 256, 256 and 188
            first = pull * 700
            messages = [
                f"req {n} user={rng.randrange(40)} {rng.choice(['ok', 'slow', 'ERROR'])}"
                for n in range(first, first + 700)
            ]
            rows = rows_of_app(app, messages, first) + rows_of_app(other, ["user=7 ERROR elsewhere"] * 50, first)
            await ingest.store(conn, rows)
    assert await pool.fetchval("SELECT count(*) FROM chunks WHERE app_id = $1", app) == 18

    for q in ("user=7 ", "error", "user=1", "req 4"):
        cursor = None
        pages = 0
        while True:  # back from the tail, 25 at a time
            want = LogQuery(app_id=app, q=q, tail=True, before_id=cursor, limit=25)
            items, _, cursor = await searched(pool, want)
            assert items == await scanned(pool, want), (q, cursor)
            pages += 1
            if cursor is None:
                break
        assert pages > 1, q
        after = 0
        while after is not None:  # forward from the start
            want = LogQuery(app_id=app, q=q, after_id=after, limit=40)
            items, after, _ = await searched(pool, want)
            assert items == await scanned(pool, want), (q, after)


@pytest.mark.integration
async def test_searches_with_filters_give_what_a_scan_gives(pool: asyncpg.Pool) -> None:
    app = new_app()
    rng = random.Random(9)
    words = ["GET", "POST", "/api/v1/items", "status=500", "Timeout", "naïve→ok", "50%", "a_b", "x\\y"]
    async with pool.acquire() as conn:
        for pull in range(4):
            out = [" ".join(rng.choice(words) for _ in range(3)) for _ in range(300)]
            err = [" ".join(rng.choice(words) for _ in range(2)) for _ in range(100)]
            await ingest.store(conn, rows_of_app(app, out, pull * 400) + rows_of_app(app, err, pull * 400, "stderr"))
    lines = [r["message"] for r in await pool.fetch("SELECT message FROM lines WHERE app_id = $1", app)]
    probes: list[dict[str, Any]] = [
        {"tail": True},
        {"tail": True, "stream": "stderr"},
        {
            "since": (T0 + timedelta(milliseconds=500)).isoformat(),
            "until": (T0 + timedelta(milliseconds=900)).isoformat(),
        },
        {"after_id": 0, "stream": "stdout"},
        {"tail": True, "include_probes": False},
    ]
    for _ in range(60):
        line = rng.choice(lines)
        start = rng.randrange(len(line))
        q = line[start : rng.randrange(start + 1, len(line) + 1)].swapcase()
        kw = rng.choice(probes)
        want = LogQuery(app_id=app, q=q, limit=rng.choice([1, 7, 50]), **kw)
        assert (await searched(pool, want))[0] == await scanned(pool, want), (q, kw)
