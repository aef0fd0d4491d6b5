"""Health checks at 500 checks/s across many apps: the health service's scheduler and checker
(in-process, writing results in batches into its real Postgres schema) against local HTTP
servers on 127.0.0.1 run in a separate process. Reports scheduling lateness (probe start minus
due time) p50/p99 (target p99 <= 50 ms) and the CPU seconds per second the checker used.
Usage: .venv/bin/python bench/health.py [--apps 500] [--interval 1] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

from _common import percentile, write_report
from berth_cli.launcher.platform import Platform
from berth_health.checker import Checker, CheckRow, Target
from berth_health.machine import HealthState, went_live
from berth_health.migrations import MIGRATIONS
from berth_health.service import COLUMNS
from berth_shared import db
from berth_shared.contracts.health import HealthCheck
from berth_shared.settings import ServiceEnv
from berth_testing import free_port, isolated_settings

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


def serve(ports: list[int]) -> None:
    """The targets: tiny HTTP servers on 127.0.0.1 (another process, so their CPU is not counted)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(RESPONSE)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        for port in ports:
            await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
        await asyncio.Event().wait()

    asyncio.run(main())


async def bench(apps: int, interval: float, seconds: float) -> dict[str, object]:
    ports = [free_port() for _ in range(8)]
    servers = multiprocessing.Process(target=serve, args=(ports,), daemon=True)
    servers.start()
    home = Path(tempfile.mkdtemp(prefix="berth-bench-health-"))
    platform = Platform(isolated_settings(home), services=())
    await platform.start()
    try:
        env = ServiceEnv.from_env(platform.service_env("health"))
        assert env.database_url is not None
        pool = await db.create_pool(env.database_url, "health", max_size=2)
        await db.migrate(pool, "health", MIGRATIONS)
        written = 0

        async def write(rows: list[CheckRow]) -> None:
            nonlocal written
            async with pool.acquire() as conn:
                await conn.copy_records_to_table("checks", records=rows, columns=COLUMNS)
            written += len(rows)

        checker = Checker(on_results=write, record_lateness=True)
        check = HealthCheck(path="/health", interval_seconds=interval, timeout_seconds=2, start_period_seconds=0)
        for i in range(apps):
            checker.upsert(
                Target(f"bench-{i}", "rel", "a", "127.0.0.1", ports[i % len(ports)], check, went_live(HealthState(), 0))
            )
        await asyncio.sleep(1.0)  # let the target servers listen
        stop = asyncio.Event()
        task = asyncio.create_task(checker.run(stop))
        await asyncio.sleep(interval)  # first (jittered) round scheduled
        assert checker.lateness is not None
        checker.lateness.clear()
        ran0, cpu0, wall0 = checker.checks_run, time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        ran1, cpu1, wall1 = checker.checks_run, time.process_time(), time.monotonic()
        lateness = list(checker.lateness)
        stop.set()
        await task
        failed = await pool.fetchval("SELECT count(*) FROM checks WHERE NOT ok")
        await pool.close()
    finally:
        await platform.stop()
        servers.terminate()
        servers.join(5)
    wall = wall1 - wall0
    return {
        "apps": apps,
        "interval_seconds": interval,
        "seconds": round(wall, 2),
        "checks": ran1 - ran0,
        "checks_per_second": round((ran1 - ran0) / wall, 1),
        "rows_written": written,
        "failed_checks": int(failed or 0),
        "lateness_ms_p50": round(percentile(lateness, 0.5) * 1000, 2),
        "lateness_ms_p99": round(percentile(lateness, 0.99) * 1000, 2),
        "lateness_ms_max": round(max(lateness) * 1000, 2) if lateness else None,
        "skipped_inflight": checker.skipped_inflight,
        "cpu_seconds_per_second": round((cpu1 - cpu0) / wall, 3),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    r = asyncio.run(bench(args.apps, args.interval, args.seconds))
    verdict = "meets" if float(r["lateness_ms_p99"]) <= 50 else "MISSES"  # type: ignore[arg-type]
    markdown = (
        f"{r['apps']} apps checked every {r['interval_seconds']} s for {r['seconds']} s from 127.0.0.1: "
        f"**{r['checks_per_second']} checks/s** ({r['checks']} checks, {r['rows_written']} rows written in batches, "
        f"{r['failed_checks']} failed).\n\n"
        f"| metric | value |\n|---|---|\n"
        f"| scheduling lateness p50 | {r['lateness_ms_p50']} ms |\n"
        f"| scheduling lateness p99 (target <= 50 ms) | {r['lateness_ms_p99']} ms ({verdict} the target) |\n"
        f"| scheduling lateness max | {r['lateness_ms_max']} ms |\n"
        f"| checker CPU (scheduler, probes, batched inserts) | {r['cpu_seconds_per_second']} CPU-s per s "
        f"(of {r['cpus']} CPUs) |\n"
        f"| probes skipped because the previous one was still in flight | {r['skipped_inflight']} |\n\n"
        "Lateness is the time from a check's due time to its probe starting (after the concurrency "
        "semaphore). CPU is the benchmark process's own (the checker and its Postgres writes, client side); "
        "the target servers run in another process."
    )
    write_report("health", r, markdown)


if __name__ == "__main__":
    main()
