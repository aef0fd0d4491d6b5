"""Upgrading the logs schema: lines stored before the search index's chunks existed get chunks
in the migration, and every search then returns what it returned before."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from berth_cli.launcher.home import SCHEMAS
from berth_cli.launcher.platform import Platform
from berth_logs import ingest
from berth_logs.migrations import MIGRATIONS
from berth_shared.contracts.logs import LogQuery
from berth_shared.db import create_pool, migrate
from log_pages import rows_of_app, scanned, searched

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
    before = [await scanned(pool, q) for q in asked]
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
