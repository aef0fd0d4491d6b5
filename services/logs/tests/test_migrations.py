"""Upgrading the logs schema: lines stored before the search index's chunks existed get chunks
in the migration, and every search then returns what it returned before."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import msgspec
import pytest
from berth_cli.launcher.home import SCHEMAS
from berth_cli.launcher.platform import Platform
from berth_logs import ingest, query
from berth_logs.migrations import MIGRATIONS
from berth_logs.retention import DELETE_OLDER, DELETE_UP_TO, Trim, trim_app
from berth_logs.words import escape_like
from berth_shared.contracts.logs import LogQuery
from berth_shared.db import create_pool, migrate
from log_pages import T0, rows_of_app, scanned, searched

pytestmark = pytest.mark.integration

BEFORE_CHUNKS = 3  # the migrations of a schema whose lines had a trigram index each


@pytest.fixture
async def old_schema(infra: Platform) -> AsyncIterator[tuple[asyncpg.Pool, str]]:
    """A schema of the logs role of its own, migrated up to the layout before chunks."""
    schema = f"logs_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(infra.admin_database_url())
    await admin.execute(f'CREATE SCHEMA "{schema}" AUTHORIZATION "{SCHEMAS["logs"]}"')
    pool = await create_pool(infra.service_database_url("logs"), schema)
    try:
        await migrate(pool, schema, MIGRATIONS[:BEFORE_CHUNKS])
        yield pool, schema
    finally:
        await pool.close()
        await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await admin.close()


async def insert_as_before(pool: asyncpg.Pool, rows: list[ingest.Row]) -> None:
    await pool.executemany(
        "INSERT INTO lines (app_id, release_id, slot, container_id, stream, ts, ts_raw, seq, message) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        [(r.app_id, r.release_id, r.slot, r.container_id, r.stream, r.ts, r.ts_raw, r.seq, r.message) for r in rows],
    )


async def scanned_as_before(pool: asyncpg.Pool, q: LogQuery) -> list[tuple[int, str]]:
    """A page of ``q`` (a search, optionally a tail, a cursor, a stream) as one query over the
    lines of the layout before origins."""
    args: list[object] = [q.app_id, escape_like(q.q or "")]
    where = "app_id = $1 AND message ILIKE '%' || $2 || '%'"
    if q.stream:
        args.append(q.stream)
        where += f" AND stream = ${len(args)}"
    if q.after_id is not None:
        args.append(q.after_id)
        where += f" AND id > ${len(args)}"
    args.append(q.limit)
    order = "DESC" if q.tail and q.after_id is None else "ASC"
    rows = await pool.fetch(
        f"SELECT id, message FROM lines WHERE {where} ORDER BY id {order} LIMIT ${len(args)}", *args
    )
    page = [(r["id"], r["message"]) for r in rows]
    return page[::-1] if order == "DESC" else page


QUERIES = ["failed", "TIMEOUT after", "user=7 ", "=1", "naïve→", "50%", "a_b", "order 7)", "x\\y", "line 5"]


async def test_lines_stored_before_chunks_are_found_after_the_migration(
    old_schema: tuple[asyncpg.Pool, str],
) -> None:
    pool, schema = old_schema
    words = ["payment FAILED", "Timeout after 30s", "user=7 ok", "user=17 ok", "naïve→done", "50% done", "a_b"]
    app = [f"line {i} {words[i % len(words)]} (order {i % 11})" for i in range(600)]  # three chunks
    app[300] = "x\\y literal backslash"
    await insert_as_before(pool, rows_of_app("app1", app[:300]))
    await insert_as_before(pool, rows_of_app("app2", [f"other {w}" for w in words], 300))
    await insert_as_before(pool, rows_of_app("app1", app[300:], 300, stream="stderr"))
    asked = [
        LogQuery(app_id=a, q=q, limit=limit, **kw)
        for a in ("app1", "app2")
        for q in QUERIES
        for limit, kw in ((500, {"tail": True}), (7, {"tail": True}), (20, {"after_id": 100, "stream": "stderr"}))
    ]
    before = [await scanned_as_before(pool, q) for q in asked]
    assert any(len(page) == 7 for page in before) and any(page == [] for page in before)

    await migrate(pool, schema, MIGRATIONS)
    indexes = {
        r["indexname"] for r in await pool.fetch("SELECT indexname FROM pg_indexes WHERE schemaname = $1", schema)
    }
    assert "lines_message_trgm" not in indexes and "chunks_words_trgm" in indexes
    chunks = await pool.fetch("SELECT app_id, last_id - first_id + 1 AS span FROM chunks ORDER BY app_id, first_id")
    assert [(c["app_id"], c["span"]) for c in chunks] == [("app1", 256), ("app1", 256 + 7), ("app1", 88), ("app2", 7)]
    assert [(await searched(pool, q))[0] for q in asked] == before

    # Lines stored after the migration are found beside the old ones.
    async with pool.acquire() as conn:
        await ingest.store(conn, rows_of_app("app1", ["payment failed again"], 1000))
    found = (await searched(pool, LogQuery(app_id="app1", q="FAILED", tail=True, limit=1000)))[0]
    assert len(found) == 1 + sum("FAILED" in m for m in app)
    assert found[-1][1] == "payment failed again"


BEFORE_ORIGINS = 4  # the migrations of a schema whose lines held their origin's values each


async def test_lines_stored_before_origins_read_the_same_as_process_web_and_are_not_stored_twice(
    old_schema: tuple[asyncpg.Pool, str],
) -> None:
    pool, schema = old_schema
    out = rows_of_app("app1", [f"out {i} payment failed" if i % 3 == 0 else f"out {i}" for i in range(300)])
    err = rows_of_app("app1", [f"err {i}" for i in range(5)], 300, stream="stderr")
    other = [msgspec.structs.replace(r, release_id="r2") for r in rows_of_app("app2", ["other 0", "other 1"])]
    await insert_as_before(pool, out + err + other)
    await migrate(pool, schema, MIGRATIONS[:BEFORE_ORIGINS])  # the layout before, with its chunks
    asked = [
        LogQuery(app_id=a, q=q, limit=limit, **kw)
        for a in ("app1", "app2")
        for q in ("failed", "out 1", "err", "other")
        for limit, kw in ((500, {"tail": True}), (7, {"tail": True}), (20, {"after_id": 100, "stream": "stderr"}))
    ]
    before = [await scanned_as_before(pool, q) for q in asked]
    assert any(len(page) == 7 for page in before) and any(page == [] for page in before)
    old_ids = [r["id"] for r in await pool.fetch("SELECT id FROM lines ORDER BY id")]

    await migrate(pool, schema, MIGRATIONS)
    assert [(await searched(pool, q))[0] for q in asked] == before
    assert [(await scanned(pool, q)) for q in asked] == before
    async with pool.acquire() as conn:
        items = (await query.run_query(conn, LogQuery(app_id="app2", tail=True))).items
    assert [(i.message, i.stream, i.release_id, i.process, i.run_id) for i in items] == [
        ("other 0", "stdout", "r2", "web", ""),
        ("other 1", "stdout", "r2", "web", ""),
    ]
    origins = await pool.fetch("SELECT app_id, stream, release_id, process FROM origins ORDER BY app_id, stream")
    assert [tuple(o) for o in origins] == [
        ("app1", "stderr", "r1", "web"),
        ("app1", "stdout", "r1", "web"),
        ("app2", "stdout", "r2", "web"),
    ]

    # Each origin knows the span of its lines' ids (a filter reads only between them).
    spans = "SELECT origin, min(id), max(id) FROM lines GROUP BY origin ORDER BY origin"
    kept = "SELECT id, first_id, last_id FROM origins ORDER BY id"
    assert [tuple(r) for r in await pool.fetch(spans)] == [tuple(r) for r in await pool.fetch(kept)]

    # Redelivered after the upgrade (as process web, as the agent said before): nothing twice.
    async with pool.acquire() as conn:
        assert await ingest.store(conn, out[250:] + err) == 0
        assert await ingest.store(conn, rows_of_app("app1", ["new"], 1000)) == 1
    new_ids = [r["id"] for r in await pool.fetch("SELECT id FROM lines ORDER BY id")]
    assert new_ids[:-1] == old_ids and new_ids[-1] > old_ids[-1]
    assert [tuple(r) for r in await pool.fetch(spans)] == [tuple(r) for r in await pool.fetch(kept)]


BEFORE_APP_KEY = 6  # the migrations of a schema whose lines had a key over ids and one over (app_id, id)


async def test_lines_stored_under_the_key_over_ids_read_and_trim_the_same_under_the_app_key(
    old_schema: tuple[asyncpg.Pool, str],
) -> None:
    pool, schema = old_schema
    await migrate(pool, schema, MIGRATIONS[:BEFORE_APP_KEY])
    async with pool.acquire() as conn:
        await ingest.store(conn, rows_of_app("app1", [f"one {i}" for i in range(300)]))
        await ingest.store(conn, rows_of_app("app2", [f"two {i}" for i in range(50)]))
    asked = [LogQuery(app_id=a, tail=True, limit=500) for a in ("app1", "app2")]
    before = [await scanned(pool, q) for q in asked]

    await migrate(pool, schema, MIGRATIONS)
    indexes = await pool.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'lines' ORDER BY 1", schema
    )
    assert [(i["indexname"], i["indexdef"].split(" USING ")[1]) for i in indexes] == [
        ("lines_origin", "btree (origin, ts_raw, seq)"),
        ("lines_pkey", "btree (app_id, id)"),
    ]
    assert [await scanned(pool, q) for q in asked] == before
    assert [(await searched(pool, q))[0] for q in asked] == before

    # A redelivery adds nothing, new lines follow, and retention keeps an app's newest lines.
    async with pool.acquire() as conn:
        assert await ingest.store(conn, rows_of_app("app1", [f"one {i}" for i in range(300)])) == 0
        assert await ingest.store(conn, rows_of_app("app1", ["one new"], 300)) == 1
        assert await trim_app(conn, Trim("app1", T0 - timedelta(days=1), 100)) == 201
        # Retention's deletes find their lines through indexes (none reads every line).
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_seqscan = off")
            plans = [
                "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {sql}", "app1", value, 10))
                for sql, value in ((DELETE_OLDER, T0), (DELETE_UP_TO, 5))
            ]
    assert all("Seq Scan" not in plan and "lines_pkey" in plan for plan in plans), plans
    kept, _, _ = await searched(pool, LogQuery(app_id="app1", tail=True, limit=500))
    assert [m for _, m in kept] == [f"one {i}" for i in range(201, 300)] + ["one new"]
    assert (await searched(pool, asked[1]))[0] == before[1]

    # Pages by time, without an index over time: a line that arrived late with an old stamp too.
    async with pool.acquire() as conn:
        assert await ingest.store(conn, rows_of_app("app2", ["two late"], -60_000)) == 1

    async def between(since: timedelta | None, until: timedelta | None) -> list[str]:
        bounds = {"since": since, "until": until}
        q = LogQuery(app_id="app2", limit=500, **{k: (T0 + v).isoformat() for k, v in bounds.items() if v is not None})
        page, _, _ = await searched(pool, q)
        assert page == await scanned(pool, q)
        return [m for _, m in page]

    ms = timedelta(milliseconds=1)
    assert await between(10 * ms, 13 * ms) == ["two 10", "two 11", "two 12"]
    assert await between(None, 0 * ms) == ["two late"]
    assert await between(-60_000 * ms, 2 * ms) == ["two 0", "two 1", "two late"]
    assert await between(49 * ms, None) == ["two 49"]
    assert await between(50 * ms, None) == []
    async with pool.acquire() as conn:
        assert await trim_app(conn, Trim("app2", T0, 1000)) == 1  # the late line, past the age limit
        page = query.build_query(LogQuery(app_id="app2", since=T0.isoformat(), until=(T0 + ms).isoformat()))
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_seqscan = off")
            plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {page.text}", *page.args))
    assert "Seq Scan on lines" not in plan and "lines_pkey" in plan, plan
    assert await between(-60_000 * ms, 2 * ms) == ["two 0", "two 1"]
