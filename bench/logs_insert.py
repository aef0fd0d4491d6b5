"""Where the logs pipeline's time goes in Postgres: the logs service's own insert, alone.

Rows like the ingest bench's (12 apps, ~75-character lines) are stored through
``berth_logs.ingest.store`` in pulls of 32,000 lines (what one pull of 16 agent messages holds),
into a schema built by the service's migrations, on the launcher's Postgres. Variants are
measured in the same run, each on a fresh table holding ``PRELOAD`` lines first (an index is
cheaper to grow when it is small), so the ratios compare like with like: the GIN trigram
index's pending list (off, larger, merged by another backend), a larger ``work_mem`` for its
merges, smaller and bigger pulls, COPY into a staging table instead of ``unnest``, and no
trigram index at all (the ceiling; it must stay for search). ``SHARED_BUFFERS=128MB`` runs
Postgres with more than the launcher's 8 MB. Other work on the machine moves the absolute
figures by tens of percent between runs: compare ratios within one run.

Usage: .venv/bin/python bench/logs_insert.py [variant ...]   (default: all, in order)
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from _common import write_report
from berth_cli.launcher import postgres
from berth_cli.launcher.platform import Platform
from berth_logs import ingest
from berth_logs.migrations import MIGRATIONS
from berth_shared.db import create_pool, migrate
from berth_testing import isolated_settings

APPS = 12
PULL = 32_000
PRELOAD = 500_000
MEASURED = 320_000
PAD = " " * 40


def pull_rows(n0: int, count: int) -> list[ingest.Row]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for n in range(n0, n0 + count):
        app = n % APPS
        at = start + timedelta(microseconds=n)
        ts_raw = f"{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond * 1000:09d}Z"
        rows.append(
            ingest.Row(
                app_id=f"app{app:02d}",
                release_id="rel",
                slot="a",
                container_id=f"{app:064x}",
                stream="stdout",
                ts=at,
                ts_raw=ts_raw,
                seq=0,
                message=f"req {n} GET /api/items status=200{PAD}",
                order=(at, 0, "", 0),
            )
        )
    return rows


Store = Callable[[asyncpg.Connection, list[ingest.Row]], Awaitable[int]]


async def run(pool: asyncpg.Pool, store: Store, setup: str, pull: int) -> float:
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE lines, counters, retention")
        if setup:
            await conn.execute(setup)
        for n0 in range(0, PRELOAD, PULL):
            await ingest.store(conn, pull_rows(10_000_000 + n0, PULL))
        await conn.execute("VACUUM ANALYZE lines")
        pulls = [pull_rows(n0, pull) for n0 in range(0, MEASURED, pull)]
        cleaning = asyncio.create_task(clean_pending_list(pool)) if store is CLEANED else None
        began = time.perf_counter()
        for rows in pulls:
            await store(conn, rows)
        took = time.perf_counter() - began
        if cleaning:
            cleaning.cancel()
            await asyncio.gather(cleaning, return_exceptions=True)
    return sum(len(p) for p in pulls) / took


COLUMNS = (
    "app_id",
    "release_id",
    "slot",
    "container_id",
    "stream",
    "ts",
    "ts_raw",
    "seq",
    "message",
    "dropped",
    "lost",
)
COPY_SQL = ingest.INSERT_SQL.replace(
    """FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                $6::timestamptz[], $7::text[], $8::int[], $9::text[], $10::int[], $11::bool[])
         WITH ORDINALITY AS x(app_id, release_id, slot, container_id, stream, ts, ts_raw, seq, message,
                              dropped, lost, n)""",
    "FROM staging x",
)


async def by_copy(conn: asyncpg.Connection, rows: list[ingest.Row]) -> int:
    async with conn.transaction():
        await conn.execute(
            "CREATE UNLOGGED TABLE IF NOT EXISTS staging (app_id text, release_id text, slot text, container_id text, "
            "stream text, ts timestamptz, ts_raw text, seq int, message text, dropped int, lost bool, n serial)"
        )
        await conn.execute("TRUNCATE staging")
        await conn.copy_records_to_table(
            "staging",
            records=[
                (
                    r.app_id,
                    r.release_id,
                    r.slot,
                    r.container_id,
                    r.stream,
                    r.ts,
                    r.ts_raw,
                    r.seq,
                    r.message,
                    r.dropped,
                    r.lost,
                )
                for r in rows
            ],
            columns=COLUMNS,
        )
        return int(await conn.fetchval(COPY_SQL))


async def clean_pending_list(pool: asyncpg.Pool) -> None:
    """Another backend merges the trigram index's pending list while the inserter appends."""
    async with pool.acquire() as conn:
        while True:
            await conn.fetchval("SELECT gin_clean_pending_list('lines_message_trgm')")
            await asyncio.sleep(0.2)


async def cleaned_store(conn: asyncpg.Connection, rows: list[ingest.Row]) -> int:
    return await ingest.store(conn, rows)


CLEANED = cleaned_store

RESET = "RESET work_mem; ALTER INDEX lines_message_trgm RESET (gin_pending_list_limit, fastupdate); "
VARIANTS: dict[str, tuple[Any, ...]] = {
    "current": (ingest.store, RESET),
    "work_mem 32MB": (ingest.store, RESET + "SET work_mem = '32MB'"),
    "pending list 32MB": (ingest.store, RESET + "ALTER INDEX lines_message_trgm SET (gin_pending_list_limit = 32768)"),
    "pending list 32MB, work_mem 32MB": (
        ingest.store,
        RESET + "SET work_mem = '32MB'; ALTER INDEX lines_message_trgm SET (gin_pending_list_limit = 32768)",
    ),
    "fastupdate off": (ingest.store, RESET + "ALTER INDEX lines_message_trgm SET (fastupdate = off)"),
    "pulls of 8,000 lines": (ingest.store, RESET + "ALTER INDEX lines_message_trgm SET (fastupdate = on)", 8_000),
    "pulls of 96,000 lines": (ingest.store, RESET, 96_000),
    "COPY into a staging table": (by_copy, RESET),
    "pending list 64MB, merged by another backend": (
        CLEANED,
        RESET + "ALTER INDEX lines_message_trgm SET (gin_pending_list_limit = 65536)",
    ),
    "no trigram index": (ingest.store, RESET + "DROP INDEX lines_message_trgm"),
}


async def main(names: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as home:
        if shared_buffers := os.environ.get("SHARED_BUFFERS"):
            plain = postgres.command
            postgres.command = lambda *a: [  # type: ignore[assignment]
                f"shared_buffers={shared_buffers}" if x == "shared_buffers=8MB" else x for x in plain(*a)
            ]
        platform = Platform(isolated_settings(Path(home)), services=())
        await platform.start()
        try:
            pool = await create_pool(platform.service_database_url("logs"), "logs")
            await migrate(pool, "logs", MIGRATIONS)
            results = {}
            for name in names or list(VARIANTS):
                store, setup, *size = VARIANTS[name]
                results[name] = round(await run(pool, store, setup, size[0] if size else PULL))
                print(name, results[name], "lines/s", flush=True)
            await pool.close()
        finally:
            await platform.stop()
    base = results.get("current")
    md = "| variant | lines/s | vs current |\n|---|---|---|\n" + "".join(
        f"| {k} | {v:,} | {v / base:.2f} |\n" if base else f"| {k} | {v:,} | |\n" for k, v in results.items()
    )
    write_report("logs_insert", {"lines_per_s": results}, md)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
