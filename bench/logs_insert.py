"""Where the logs pipeline's time goes in Postgres: the logs service's own insert, alone, and
search over 1,000,000 lines of one app, with and without the chunked search index (ADR 0024).

**Insert.** Rows like the ingest bench's (12 apps, ~75-character lines) are stored in pulls of
32,000 lines (what one pull of 16 agent messages holds), into a schema built by the service's
migrations, on the launcher's Postgres. Variants are measured in the same run, each on a fresh
table holding ``PRELOAD`` lines first (an index is cheaper to grow when it is small), so the
ratios compare like with like: the service's ``store`` (lines without a text index, a chunk of
words per 256 lines of an app under a trigram index), the layout before it (a trigram index on
every line's message), no text index at all (the ceiling), chunks holding their lines' whole
text instead of their words, and other chunk sizes. Each figure is lines per second of wall
time and per second of the Postgres backend's CPU (``/proc``): other work on the shared
machine moves the first by tens of percent between runs, the second much less. ``chunk
planning`` is the logs service's own CPU per line for the chunks' words (in its decode thread).

**Search.** The searched app's lines of ``bench/logs.py`` (1,000,000, in pulls of 8,000 as the
bulk lane takes them) are stored with the layout before and searched as the API asks
(``q=…&limit=100``: a tail without the service's records of probes), 50 terms of three kinds,
twice (the second round is reported); then the service's migration turns that table into the
new layout (its backfill is timed), the same searches must return the same pages, and the same
again on lines stored by the new insert. A live tail's search (``after_id`` near the newest
line) is timed on the new layout too.

Usage: .venv/bin/python bench/logs_insert.py [insert|search ...]   (default: both)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from _common import percentile, write_report
from berth_cli.launcher.platform import Platform
from berth_logs import chunks, ingest, query
from berth_logs.migrations import MIGRATIONS
from berth_shared.contracts.logs import LogQuery
from berth_shared.db import create_pool, migrate
from berth_testing import isolated_settings
from logs import SEARCH_LINES, search_message, search_terms

APPS = 12
PULL = 32_000
PRELOAD = 500_000
MEASURED = 320_000
PAD = " " * 40
SEARCH_PULL = 8_000
TICK = os.sysconf("SC_CLK_TCK")


def flood_rows(n0: int, count: int) -> list[ingest.Row]:
    """Lines like the ingest bench's apps write, spread over :data:`APPS` apps."""
    return [
        row(f"app{n % APPS:02d}", f"{n % APPS:064x}", n, f"req {n} GET /api/items status=200{PAD}")
        for n in range(n0, n0 + count)
    ]


def row(app_id: str, container_id: str, n: int, message: str) -> ingest.Row:
    at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=n)
    return ingest.Row(
        app_id=app_id,
        release_id="rel",
        slot="a",
        container_id=container_id,
        stream="stdout",
        ts=at,
        ts_raw=f"{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond * 1000:09d}Z",
        seq=0,
        message=message,
        order=(at, 0, container_id, 0),
    )


# The insert before ADR 0024: lines only (their trigram index maintained by Postgres), counters
# (into today's layout of lines: each names its origin, ``ingest.ORIGINS_SQL``).
BEFORE_SQL = f"""
WITH inserted AS (
    INSERT INTO lines (app_id, origin, ts, ts_raw, seq, message, dropped, lost)
    SELECT x.app_id, x.origin, x.ts, x.ts_raw, x.seq, x.message, x.dropped, x.lost
    FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::text[], $5::int[], $6::text[], $7::int[], $8::bool[])
         WITH ORDINALITY AS x(app_id, origin, ts, ts_raw, seq, message, dropped, lost, n)
    WHERE x.origin IS NOT NULL
    ORDER BY x.n
    ON CONFLICT (origin, ts_raw, seq) DO NOTHING
    RETURNING id, app_id, message, dropped, lost
), {ingest.COUNT_INSERTED}
SELECT count(*) FROM inserted
"""
# Chunks holding their lines' whole text (lowered), built by Postgres from the inserted rows.
TEXT_CHUNKS_SQL = BEFORE_SQL.replace(
    "\nSELECT count(*) FROM inserted",
    """, chunked AS (
    INSERT INTO text_chunks (app_id, first_id, last_id, text)
    SELECT app_id, min(id), max(id), lower(string_agg(message, E'\\n' ORDER BY id))
    FROM (SELECT app_id, id, message, (row_number() OVER (PARTITION BY app_id ORDER BY id) - 1) / 256 AS k
          FROM inserted) s
    GROUP BY app_id, k
)
SELECT count(*) FROM inserted""",
)


async def columns(conn: asyncpg.Connection, rows: list[ingest.Row]) -> list[list[Any]]:
    """BEFORE_SQL's arguments: each line's app and origin id, then its own columns."""
    args = ingest.arguments(rows, [False] * len(rows))
    ids = await ingest.origin_ids(conn, args.origins)
    own = [[getattr(r, name) for r in rows] for name in ("ts", "ts_raw", "seq", "message", "dropped", "lost")]
    return [[r.app_id for r in rows], [ids[o - 1] for o in args.origin_of], *own]


def plain_store(sql: str) -> Callable[[asyncpg.Connection, list[ingest.Row]], Awaitable[int]]:
    async def store(conn: asyncpg.Connection, rows: list[ingest.Row]) -> int:
        async with conn.transaction():
            apps = sorted({r.app_id for r in rows})
            await conn.execute("INSERT INTO retention (app_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING", apps)
            return int(await conn.fetchval(sql, *await columns(conn, rows)))

    return store


def sized_store(max_lines: int, max_chars: int) -> Callable[[asyncpg.Connection, list[ingest.Row]], Awaitable[int]]:
    """The service's insert with chunks of another size."""

    async def store(conn: asyncpg.Connection, rows: list[ingest.Row]) -> int:
        ordered = sorted(rows, key=lambda r: (r.app_id, r.order))
        starts, words = chunks.plan_chunks(
            [r.app_id for r in ordered], [r.message for r in ordered], max_lines, max_chars
        )
        return await ingest.store_insert(conn, ingest.Insert(ordered, starts, words))

    return store


BEFORE = "CREATE INDEX IF NOT EXISTS lines_message_trgm ON lines USING gin (message public.gin_trgm_ops)"
TEXT_CHUNKS = (
    "CREATE TABLE IF NOT EXISTS text_chunks (app_id text, first_id bigint, last_id bigint, text text);"
    "TRUNCATE text_chunks;"
    "CREATE INDEX IF NOT EXISTS text_chunks_trgm ON text_chunks USING gin (text public.gin_trgm_ops)"
)
CLEAN = "DROP INDEX IF EXISTS lines_message_trgm; DROP TABLE IF EXISTS text_chunks"
CURRENT = f"current: chunks of words ({chunks.MAX_LINES} lines, {chunks.MAX_WORD_CHARS:,} characters)"
VARIANTS: dict[str, tuple[Any, str]] = {
    CURRENT: (ingest.store, ""),
    "before: a trigram index on every line": (plain_store(BEFORE_SQL), BEFORE),
    "no text index at all (the ceiling)": (plain_store(BEFORE_SQL), ""),
    "chunks of whole text (256 lines)": (plain_store(TEXT_CHUNKS_SQL), TEXT_CHUNKS),
    "chunks of words, 128 lines": (sized_store(128, chunks.MAX_WORD_CHARS), ""),
    "chunks of words, 512 lines": (sized_store(512, chunks.MAX_WORD_CHARS), ""),
    # The same code again at the end of the run: how much order and the shared box move a figure.
    f"{CURRENT}, again last": (ingest.store, ""),
}


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def insert_rate(pool: asyncpg.Pool, store: Any, setup: str) -> tuple[float, float]:
    """Lines per second of wall time and of the backend's CPU, storing :data:`MEASURED` lines."""
    async with pool.acquire() as conn:
        await conn.execute(CLEAN)
        await conn.execute("TRUNCATE lines, chunks, counters, retention, origins RESTART IDENTITY")
        if setup:
            await conn.execute(setup)
        for n0 in range(0, PRELOAD, PULL):
            await store(conn, flood_rows(10_000_000 + n0, PULL))
        await conn.execute("VACUUM ANALYZE")
        pulls = [flood_rows(n0, PULL) for n0 in range(0, MEASURED, PULL)]
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        cpu, began = cpu_seconds(pid), time.perf_counter()
        for rows in pulls:
            await store(conn, rows)
        wall, cpu = time.perf_counter() - began, cpu_seconds(pid) - cpu
        await conn.execute(CLEAN)
    return MEASURED / wall, MEASURED / cpu


def planning_us_per_line(rows: list[ingest.Row]) -> float:
    """The logs service's CPU per line for ordering a pull and planning its chunks."""
    began = time.process_time()
    for _ in range(5):
        ingest.insert_of(rows)
    return (time.process_time() - began) / (5 * len(rows)) * 1e6


async def inserts(pool: asyncpg.Pool) -> dict[str, Any]:
    results = {}
    for name, (store, setup) in VARIANTS.items():
        wall, cpu = await insert_rate(pool, store, setup)
        results[name] = {"lines_per_s": round(wall), "lines_per_cpu_s": round(cpu)}
        print(name, results[name], flush=True)
    rng = random.Random(7)
    searched = [row(f"app{n % APPS:02d}", f"{n % APPS:064x}", n, search_message(rng, n)) for n in range(PULL)]
    planning = {"flood": planning_us_per_line(flood_rows(0, PULL)), "searched": planning_us_per_line(searched)}
    return {"variants": results, "chunk_planning_us_per_line": {k: round(v, 2) for k, v in planning.items()}}


def searched_rows(rng: random.Random, n0: int) -> list[ingest.Row]:
    return [row("searched", "bench-search", n, search_message(rng, n)) for n in range(n0, n0 + SEARCH_PULL)]


async def fill(conn: asyncpg.Connection, store: Any) -> float:
    """The searched app's lines, as ``bench/logs.py`` publishes them; returns lines/s."""
    rng = random.Random(7)
    await conn.execute("TRUNCATE lines, chunks, counters, retention, origins RESTART IDENTITY")
    began = time.perf_counter()
    for n0 in range(0, SEARCH_LINES, SEARCH_PULL):
        await store(conn, searched_rows(rng, n0))
    took = time.perf_counter() - began
    await conn.execute("VACUUM ANALYZE")
    return SEARCH_LINES / took


Page = list[tuple[int, str]]


async def page_before(conn: asyncpg.Connection, q: LogQuery) -> Page:
    """A page as the service answered before ADR 0024: one query on the lines."""
    sql = query.build_query(q)
    page = query.page_of(list(await conn.fetch(sql.text, *sql.args)), q, sql.reverse)
    return [(i.id, i.message) for i in page.items]


async def page_now(conn: asyncpg.Connection, q: LogQuery) -> Page:
    page = await query.run_query(conn, q)
    return [(i.id, i.message) for i in page.items]


async def searches(
    conn: asyncpg.Connection, answer: Callable[[asyncpg.Connection, LogQuery], Awaitable[Page]], **kw: Any
) -> tuple[dict[str, list[float]], dict[str, Page]]:
    took: dict[str, list[float]] = {}
    pages: dict[str, Page] = {}
    for _ in range(2):
        took = {"rare": [], "some": [], "common": []}
        for kind, term in search_terms():
            q = LogQuery(app_id="searched", q=term, limit=100, include_probes=False, **kw)
            began = time.perf_counter()
            pages[term] = await answer(conn, q)
            took[kind].append((time.perf_counter() - began) * 1000)
            assert pages[term] or "after_id" in kw, term
    return took, pages


def ms(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 0.5), 1),
        "p90": round(percentile(values, 0.9), 1),
        "max": round(max(values), 1),
    }


def timings(took: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {"all": ms([x for v in took.values() for x in v]), **{k: ms(v) for k, v in took.items()}}


async def megabytes(conn: asyncpg.Connection, size: str) -> float:
    return round(await conn.fetchval(f"SELECT {size}") / 2**20, 1)


async def search(pool: asyncpg.Pool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with pool.acquire() as conn:
        await conn.execute(BEFORE)
        out["before_fill_lines_per_s"] = round(await fill(conn, plain_store(BEFORE_SQL)))
        out["before_index_mb"] = await megabytes(conn, "pg_relation_size('lines_message_trgm')")
        took, before = await searches(conn, page_before, tail=True)
        out["before"] = timings(took)
        print("before", out["before"], flush=True)

        # The upgrade: the migration's backfill turns the old table into chunks.
        await conn.execute("DROP TABLE chunks")
        began = time.perf_counter()
        await conn.execute(MIGRATIONS[3])
        out["backfill_s"] = round(time.perf_counter() - began, 1)
        await conn.execute("VACUUM ANALYZE")
        took, backfilled = await searches(conn, page_now, tail=True)
        assert backfilled == before, "pages differ after the backfill"
        out["backfilled"] = timings(took)
        print("backfilled", out["backfill_s"], out["backfilled"], flush=True)

        out["current_fill_lines_per_s"] = round(await fill(conn, ingest.store))
        out["current_index_mb"] = await megabytes(conn, "pg_total_relation_size('chunks')")
        took, now = await searches(conn, page_now, tail=True)
        assert now == before, "pages differ on the new layout"
        out["current"] = timings(took)
        print("current", out["current"], flush=True)
        newest = await conn.fetchval("SELECT max(id) FROM lines")
        took, _ = await searches(conn, page_now, after_id=newest - 20_000)
        out["live_tail_current"] = timings(took)
        print("live tail", out["live_tail_current"], flush=True)
    return out


def report(found: dict[str, Any], load: tuple[str, str]) -> str:
    md = ""
    if "insert" in found:
        variants = found["insert"]["variants"]
        base = variants[CURRENT]
        before = variants["before: a trigram index on every line"]
        md += "| insert variant | lines/s | vs before | lines per CPU-s of Postgres | vs before |\n"
        md += "|---|---|---|---|---|\n"
        for name, v in variants.items():
            md += (
                f"| {name} | {v['lines_per_s']:,} | {v['lines_per_s'] / before['lines_per_s']:.2f} | "
                f"{v['lines_per_cpu_s']:,} | {v['lines_per_cpu_s'] / before['lines_per_cpu_s']:.2f} |\n"
            )
        md += (
            f"\nThe current insert vs before: {base['lines_per_s'] / before['lines_per_s']:.2f}x the lines per second, "
            f"{base['lines_per_cpu_s'] / before['lines_per_cpu_s']:.2f}x per CPU-second of Postgres. "
            "Chunk planning costs the logs service {flood} µs of CPU per line of these, {searched} µs per line "
            "like the searched app's (below).\n".format(**found["insert"]["chunk_planning_us_per_line"])
        )
    if "search" in found:
        s = found["search"]
        md += "\n| search over 1,000,000 lines of one app (ms, n=50) | p50 | p90 | max |"
        md += " rare p50 | some p50 | common p50 |\n"
        md += "|---|---|---|---|---|---|---|\n"
        for key, label in (
            ("before", "before: a trigram index on every line"),
            ("backfilled", "chunks built by the migration's backfill"),
            ("current", "chunks built by the current insert"),
            ("live_tail_current", "a live tail's search (after the last 20,000 lines), current"),
        ):
            t = s[key]
            md += (
                f"| {label} | {t['all']['p50']} | {t['all']['p90']} | {t['all']['max']} | "
                f"{t['rare']['p50']} | {t['some']['p50']} | {t['common']['p50']} |\n"
            )
        md += (
            "\nEvery search returned the same page (ids and lines) on all three. Storing the 1,000,000 lines "
            f"in pulls of 8,000: {s['before_fill_lines_per_s']:,} lines/s before, "
            f"{s['current_fill_lines_per_s']:,} lines/s now; the migration's backfill of them took "
            f"{s['backfill_s']} s. Their search index: {s['before_index_mb']} MB of trigram index on the lines "
            f"before, {s['current_index_mb']} MB of chunks with their indexes now.\n"
        )
    md += f"\nLoad average (`uptime`) at the start: {load[0]}; at the end: {load[1]} (the 2-core box, shared).\n"
    return md


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


@contextlib.asynccontextmanager
async def logs_database() -> AsyncIterator[asyncpg.Pool]:
    """The logs role's pool, its schema migrated, on a launcher's Postgres of its own."""
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as home:
        platform = Platform(isolated_settings(Path(home)), services=())
        await platform.start()
        try:
            pool = await create_pool(platform.service_database_url("logs"), "logs")
            try:
                await migrate(pool, "logs", MIGRATIONS)
                yield pool
            finally:
                await pool.close()
        finally:
            await platform.stop()


async def main(parts: list[str]) -> None:
    parts = parts or ["insert", "search"]
    start_load = load_average()
    found: dict[str, Any] = {}
    async with logs_database() as pool:
        if "insert" in parts:
            found["insert"] = await inserts(pool)
        if "search" in parts:
            found["search"] = await search(pool)
    load = (start_load, load_average())
    write_report("logs_insert", {**found, "load_average": {"start": load[0], "end": load[1]}}, report(found, load))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
