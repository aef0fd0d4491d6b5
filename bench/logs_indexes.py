"""A/B of the logs insert's Postgres CPU per line under variants of ``lines``' indexes and
settings (ADR 0006, addendum "indexes"): the service's own ``store`` on the launcher's Postgres,
pulls of :data:`PULL` lines (a bulk pull of the ingest) into a table of :data:`PRELOAD`, each
variant measured on a fresh table, variants alternated for :data:`ROUNDS` rounds so the shared
machine's noise falls on all of them. Printed: µs of CPU per line of the inserting backend and
of all of Postgres' processes (the WAL writer included), per variant and round, and medians.

With ``0`` rounds it times retention's line-limit probe of one app instead (before: counting
back through its lines; now: the bound from its chunks).

Usage: .venv/bin/python bench/logs_indexes.py [rounds]   (prints only; no report is written)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from typing import Any

from berth_logs import ingest, retention
from logs_insert import cpu_seconds, flood_rows, logs_database

PULL = 8_000
PRELOAD = 240_000
MEASURED = 160_000
ROUNDS = 2
RETAINED = 800_000


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def children_cpu(parent: int) -> float:
    """CPU-seconds of every child of ``parent`` (the postmaster: backends, WAL writer, ...)."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


# (setup, teardown, session settings) of each variant, applied to the schema of MIGRATIONS.
# The indexes of lines before migration 7, and back.
BEFORE_7 = (
    "ALTER TABLE lines DROP CONSTRAINT lines_pkey; ALTER TABLE lines ADD CONSTRAINT lines_pkey PRIMARY KEY (id);"
    "CREATE INDEX lines_app_id_id ON lines (app_id, id); CREATE INDEX lines_app_id_ts ON lines (app_id, ts)"
)
AFTER_7 = (
    "ALTER TABLE lines DROP CONSTRAINT lines_pkey; DROP INDEX lines_app_id_id; DROP INDEX lines_app_id_ts;"
    "ALTER TABLE lines ADD CONSTRAINT lines_pkey PRIMARY KEY (app_id, id)"
)
VARIANTS: dict[str, tuple[str, str, str]] = {
    "current: pkey (app_id, id), origin key": ("", "", ""),
    "before migration 7: pkey (id), (app_id, id), (app_id, ts), origin key": (BEFORE_7, AFTER_7, ""),
    "current, synchronous_commit off": ("", "", "SET synchronous_commit = off"),
}


async def measure(pool, setup: str, teardown: str, session: str) -> tuple[float, float]:
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE lines, chunks, counters, retention, origins RESTART IDENTITY")
        if setup:
            await conn.execute(setup)
        if session:
            await conn.execute(session)
        for n0 in range(0, PRELOAD, PULL):
            await ingest.store(conn, flood_rows(10_000_000 + n0, PULL))
        await conn.execute("VACUUM ANALYZE")
        pulls = [flood_rows(n0, PULL) for n0 in range(0, MEASURED, PULL)]
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        postmaster = parent_of(pid)
        backend, everything = cpu_seconds(pid), children_cpu(postmaster)
        for rows in pulls:
            await ingest.store(conn, rows)
        await asyncio.sleep(0.5)  # the WAL writer's last flush of a commit left to it
        backend, everything = cpu_seconds(pid) - backend, children_cpu(postmaster) - everything
        await conn.execute("RESET ALL")
        if teardown:
            await conn.execute(teardown)
    return backend / MEASURED * 1e6, everything / MEASURED * 1e6


OFFSET_PROBE = "SELECT id FROM lines WHERE app_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1"


async def retention_probe(pool: Any, lines: int = RETAINED) -> None:
    """Retention's line-limit probe of one app holding ``lines`` (under the default limit):
    counting back through its lines (before) against the bound from its chunks (now)."""
    async with pool.acquire() as conn:
        await conn.execute("TRUNCATE lines, chunks, counters, retention, origins RESTART IDENTITY")
        for n0 in range(0, lines, PULL):
            await ingest.store(conn, [r for r in flood_rows(n0 * 12, PULL * 12) if r.app_id == "app00"][:PULL])
        await conn.execute("VACUUM ANALYZE")
        took: dict[str, list[float]] = {"OFFSET probe (before)": [], "chunks' bound (now)": []}
        for _ in range(5):
            for name, sql, args in (
                ("OFFSET probe (before)", OFFSET_PROBE, ("app00", retention.DEFAULT_MAX_LINES)),
                ("chunks' bound (now)", retention.AT_MOST, ("app00",)),
            ):
                began = time.perf_counter()
                await conn.fetchval(sql, *args)
                took[name].append((time.perf_counter() - began) * 1000)
    for name, values in took.items():
        each = ", ".join(f"{v:.1f}" for v in values)
        print(f"{name}, {lines:,} lines: median {statistics.median(values):.2f} ms ({each})")


async def main(rounds: int) -> None:
    found: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
    async with logs_database() as pool:
        if rounds == 0:
            await retention_probe(pool)
            return
        for r in range(rounds):
            for name, (setup, teardown, session) in VARIANTS.items():
                began = time.perf_counter()
                us = await measure(pool, setup, teardown, session)
                found[name].append(us)
                print(
                    f"round {r + 1} {name}: backend {us[0]:.2f} us/line, all postgres {us[1]:.2f} "
                    f"({time.perf_counter() - began:.0f} s, load {os.getloadavg()[0]:.2f})",
                    flush=True,
                )
    for name, values in found.items():
        print(
            f"{name}: median backend {statistics.median(v[0] for v in values):.2f}, "
            f"all postgres {statistics.median(v[1] for v in values):.2f} us/line"
        )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS))
