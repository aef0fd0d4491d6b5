"""The ingest: Docker timestamps, line order, batches it can never store, which pull commits first,
and (against Postgres) the search index's chunks of what a pull really inserted."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec
import pytest
from berth_logs.ingest import (
    BEGIN_INSERT_SQL,
    BULK,
    BULK_PATIENCE,
    FRESH_SQL,
    PROMPT,
    Row,
    arguments,
    check_batch,
    choose,
    clean_message,
    insert_of,
    oldest_stamps,
    origin_ids,
    origin_of,
    parse_docker_ts,
    rows_of,
    store,
)
from berth_shared.contracts.logs import LogBatch, LogLine
from berth_shared.db import Connection
from log_pages import rows_of_app


def test_docker_timestamps_parse_to_the_microsecond_and_keep_nanoseconds_for_order() -> None:
    ts, nanos = parse_docker_ts("2024-03-01T10:20:30.123456789Z") or (None, 0)
    assert ts == datetime(2024, 3, 1, 10, 20, 30, 123456, tzinfo=UTC)
    assert nanos == 123456789
    # Docker trims trailing zeros: ".5" is half a second.
    half = datetime(2024, 3, 1, 10, 20, 30, 500000, tzinfo=UTC)
    assert parse_docker_ts("2024-03-01T10:20:30.5Z") == (half, 5 * 10**8)
    assert parse_docker_ts("2024-03-01T12:20:30+02:00") == (datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC), 0)
    assert parse_docker_ts("yesterday") is None
    assert parse_docker_ts("2024-13-01T10:20:30Z") is None


def test_nul_characters_become_replacement_characters() -> None:
    assert clean_message("a\x00b") == "a\ufffdb"


def lines_batch(container: str, stream: str, stamps: list[str], app: str = "app1") -> LogBatch:
    return LogBatch(
        app_id=app,
        release_id="r1",
        slot="a",
        container_id=container,
        stream=stream,
        lines=[LogLine(ts=t, message=f"{container}/{t}") for t in stamps],
    )


def test_lines_of_a_pull_are_stored_in_timestamp_order_even_when_the_text_sorts_differently() -> None:
    out = lines_batch("c1", "stdout", ["2024-01-01T00:00:00.12Z", "2024-01-01T00:00:00.2Z"])
    err = lines_batch("c1", "stderr", ["2024-01-01T00:00:00.1Z", "2024-01-01T00:00:00.15Z"])
    assert [r.ts_raw for r in rows_of([out, err])] == [
        "2024-01-01T00:00:00.1Z",
        "2024-01-01T00:00:00.12Z",
        "2024-01-01T00:00:00.15Z",
        "2024-01-01T00:00:00.2Z",
    ]


def test_a_line_with_an_unreadable_timestamp_is_kept_at_the_batch_time() -> None:
    b = lines_batch("c1", "stdout", ["garbage"])
    (row,) = rows_of([b])
    assert row.ts == b.at
    assert row.ts_raw == "garbage"  # still part of its unique key


def test_batches_that_can_never_be_stored_are_recognised() -> None:
    assert check_batch(lines_batch("c1", "stdout", [])) is None
    assert check_batch(lines_batch("c1", "stdin", [])) == "bad stream 'stdin'"
    assert check_batch(lines_batch("", "stdout", [])) == "empty container_id"
    assert check_batch(lines_batch("c1", "stdout", [], app="")) is not None


def test_a_waiting_prompt_pull_is_committed_before_a_bulk_one() -> None:
    assert choose({}, 10.0) is None
    assert choose({BULK: 9.0}, 10.0) is BULK
    assert choose({PROMPT: 9.5}, 10.0) is PROMPT
    assert choose({PROMPT: 9.9, BULK: 9.0}, 10.0) is PROMPT


def test_a_bulk_pull_is_not_starved_by_prompt_ones_for_longer_than_its_patience() -> None:
    assert choose({PROMPT: 9.9, BULK: 10.0 - BULK_PATIENCE + 0.1}, 10.0) is PROMPT
    assert choose({PROMPT: 9.9, BULK: 10.0 - BULK_PATIENCE}, 10.0) is BULK


def reference_ts(raw: str) -> tuple[datetime, int]:
    """What a Docker timestamp means, the slow and obvious way (datetime, then the nanoseconds)."""
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?", raw, re.ASCII)
    assert m, raw
    zone = m[4] if m[4] and m[4] != "Z" else "+00:00"
    base = datetime.fromisoformat(f"{m[1]}T{m[2]}{zone}").astimezone(UTC)
    nanos = int((m[3] or "").ljust(9, "0"))
    return base + timedelta(microseconds=nanos // 1000), nanos


@pytest.mark.parametrize(
    "raw",
    [
        "2024-03-01T10:20:30.123456789Z",
        "2024-03-01T10:20:30.000000000Z",
        "2024-03-01T10:20:30.999999999Z",  # the microsecond is cut, not rounded up into the next second
        "2024-12-31T23:59:59.999999999Z",
        "2024-02-29T00:00:00.000001000Z",  # a leap day
        "1970-01-01T00:00:00.000000001Z",
        "2024-03-01T10:20:30.12345678Z",  # fewer digits
        "2024-03-01T10:20:30Z",  # none
        "2024-03-01 10:20:30.123456789Z",
        "2024-03-01T12:20:30.123456789+02:00",
        "2024-03-01T12:20:30.123456789+0200",
        "2024-03-01T10:20:30.123456789",
    ],
)
def test_timestamps_read_by_slicing_agree_with_datetime(raw: str) -> None:
    assert parse_docker_ts(raw) == reference_ts(raw)


@pytest.mark.parametrize(
    "raw",
    [
        "2016-12-31T23:59:60.000000000Z",  # a leap second: the engine never writes one, datetime can't hold it
        "2024-02-30T10:20:30.123456789Z",
        "2024-03-01T10:20:30.12345678xZ",
        "2024-03-01T10:20:30. 23456789Z",  # int() would take it; a timestamp does not
        "2024-03-01T10:20:30.1234567890Z",
    ],
)
def test_what_is_not_a_docker_timestamp_is_refused_on_the_fast_path_too(raw: str) -> None:
    assert parse_docker_ts(raw) is None


def test_rows_order_by_instant_across_forms_and_containers() -> None:
    b = LogBatch(
        app_id="app1",
        release_id="r1",
        slot="a",
        container_id="c2",
        stream="stdout",
        lines=[
            LogLine(ts="2024-01-01T02:00:00.5+02:00", message="same second, later"),
            LogLine(ts="2024-01-01T00:00:00.400000000Z", message="same second, earlier"),
            LogLine(ts="2023-12-31T23:59:59.999999999Z", message="the second before"),
        ],
    )
    rows = rows_of([b, lines_batch("c1", "stdout", ["2024-01-01T00:00:00.400000000Z"])])
    assert [(r.container_id, r.message) for r in rows] == [
        ("c2", "the second before"),
        ("c1", "c1/2024-01-01T00:00:00.400000000Z"),  # same instant: by container, then seq
        ("c2", "same second, earlier"),
        ("c2", "same second, later"),
    ]
    assert rows[-1].ts == datetime(2024, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)


def test_each_apps_lines_of_a_pull_go_together_in_timestamp_order() -> None:
    a = lines_batch("c1", "stdout", ["2024-01-01T00:00:00.1Z", "2024-01-01T00:00:00.3Z"], app="a")
    b = lines_batch("c2", "stdout", ["2024-01-01T00:00:00.2Z"], app="b")
    late_a = lines_batch("c3", "stdout", ["2024-01-01T00:00:00.25Z"], app="a")
    assert [r.message for r in rows_of([b, a, late_a])] == [
        "c1/2024-01-01T00:00:00.1Z",
        "c3/2024-01-01T00:00:00.25Z",
        "c1/2024-01-01T00:00:00.3Z",
        "c2/2024-01-01T00:00:00.2Z",
    ]


def test_an_insert_orders_rows_by_app_and_time_and_starts_a_chunk_per_app() -> None:
    a = lines_batch("c1", "stdout", ["2024-01-01T00:00:00.3Z", "2024-01-01T00:00:00.1Z"], app="a")
    b = lines_batch("c2", "stdout", ["2024-01-01T00:00:00.2Z"], app="b")
    rows = rows_of([b]) + rows_of([a])  # in any order
    insert = insert_of(rows)
    assert [r.ts_raw for r in insert.rows] == [
        "2024-01-01T00:00:00.1Z",
        "2024-01-01T00:00:00.3Z",
        "2024-01-01T00:00:00.2Z",
    ]
    assert insert.starts == [True, False, True]
    assert [set(w.split()) for w in insert.words] == [
        {"c1", "2024", "01", "01T00", "00", "1Z", "3Z"},
        {"c2", "2024", "01", "01T00", "00", "2Z"},
    ]


async def chunk_spans(pool: asyncpg.Pool, app_id: str) -> list[tuple[int, int]]:
    rows = await pool.fetch("SELECT first_id, last_id FROM chunks WHERE app_id = $1 ORDER BY first_id", app_id)
    return [(r["first_id"], r["last_id"]) for r in rows]


@pytest.mark.integration
async def test_a_redelivered_pull_adds_no_lines_no_chunks_and_counts_nothing_twice(pool: asyncpg.Pool) -> None:
    app = f"app{uuid.uuid4().hex[:10]}"
    first = rows_of_app(app, [f"first {i}" for i in range(300)])
    async with pool.acquire() as conn:
        assert await store(conn, first) == 300
        spans = await chunk_spans(pool, app)
        assert [last - start + 1 for start, last in spans] == [256, 44]
        assert await store(conn, first) == 0  # redelivered
        assert await chunk_spans(pool, app) == spans
        # A pull of old and new lines: one chunk, of the new lines only.
        assert await store(conn, first[250:] + rows_of_app(app, ["second 0", "second 1"], 300)) == 2
    ids = [r["id"] for r in await pool.fetch("SELECT id FROM lines WHERE app_id = $1 AND message LIKE 'second%'", app)]
    assert (await chunk_spans(pool, app))[2:] == [(min(ids), max(ids))]
    assert await pool.fetchval("SELECT stored FROM counters WHERE app_id = $1", app) == 302


async def test_a_pull_newer_than_what_is_stored_skips_the_duplicate_check_yet_never_stores_a_line_twice(
    pool: asyncpg.Pool,
) -> None:
    app = f"app{uuid.uuid4().hex[:10]}"
    lines = rows_of_app(app, [f"line {i}" for i in range(10)])

    async def fresh(conn: Connection, rows: list[Row]) -> bool:
        async with conn.transaction():
            ids = await origin_ids(conn, [origin_of(rows[0])])
            return bool(await conn.fetchval(FRESH_SQL, ids, oldest_stamps(rows, [1] * len(rows), 1)))

    async with pool.acquire() as conn:
        # Nothing stored of its origin: fresh, stored without ON CONFLICT.
        assert await fresh(conn, lines[:5])
        assert await store(conn, lines[:5]) == 5
        # Newer than what is stored: fresh; overlapping it: not.
        assert await fresh(conn, lines[5:])
        assert not await fresh(conn, lines[4:])
        # A fresh pull that repeats one of its own lines (two overlapping batches in one pull):
        # the unique key refuses it and the pull is stored with the check, each line once.
        assert await store(conn, lines[5:] + lines[7:8]) == 5
        assert await store(conn, lines[3:]) == 0
    assert await pool.fetchval("SELECT count(*) FROM lines WHERE app_id = $1", app) == 10
    assert await pool.fetchval("SELECT stored FROM counters WHERE app_id = $1", app) == 10
    spans = await chunk_spans(pool, app)
    assert len(spans) == 2 and spans[0][1] < spans[1][0]


@pytest.mark.integration
async def test_the_freshness_check_reads_one_index_entry_per_origin_whatever_the_statistics_say(
    pool: asyncpg.Pool,
) -> None:
    """A plan made while ``lines`` looked small (here: it is small) must not scan it: on a new
    install that plan stayed cached while the table grew, and each pull read every line."""
    app = f"app{uuid.uuid4().hex[:10]}"
    lines = rows_of_app(app, [f"line {i}" for i in range(10)])
    async with pool.acquire() as conn:
        assert await store(conn, lines[:5]) == 5
        async with conn.transaction():
            await conn.execute(BEGIN_INSERT_SQL)
            ids = await origin_ids(conn, [origin_of(lines[0])])
            oldest = oldest_stamps(lines[5:], [1] * 5, 1)
            plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {FRESH_SQL}", ids, oldest))
    assert "Seq Scan on lines" not in plan
    assert "Index Only Scan Backward using lines_origin" in plan


def test_a_pulls_lines_name_their_origin_and_the_origin_says_the_process_and_run() -> None:
    web = lines_batch("c1", "stdout", ["2024-01-01T00:00:00.100000000Z", "2024-01-01T00:00:00.300000000Z"])
    run = msgspec.structs.replace(
        lines_batch("c2", "stdout", ["2024-01-01T00:00:00.200000000Z"]), process="run", run_id="r-1"
    )
    rows = rows_of([web, run])
    args = arguments(rows, [True, False, False])
    assert args.origins == [
        ("app1", "r1", "a", "c1", "stdout", "web", ""),
        ("app1", "r1", "a", "c2", "stdout", "run", "r-1"),
    ]
    assert args.origin_of == [1, 2, 1]  # by time: c1, c2, c1
    assert args.oldest == ["2024-01-01T00:00:00.100000000Z", "2024-01-01T00:00:00.200000000Z"]
    assert [origin_of(r) for r in rows] == [args.origins[o - 1] for o in args.origin_of]


def test_stamps_not_in_the_engines_fixed_form_always_take_the_duplicate_check() -> None:
    lines = rows_of_app("app1", ["a", "b"])
    assert oldest_stamps(lines, [1, 1], 1) == [lines[0].ts_raw]
    odd = [*lines[:1], msgspec.structs.replace(lines[1], ts_raw="2026-12-05T07:00:00.5Z")]
    assert oldest_stamps(odd, [1, 1], 1) is None
