"""Health checks, timed (the tests assert the behaviour; the timings are measured here):

1. 500 checks/s across many apps: the health service's scheduler and checker (in-process,
   writing results in batches into its real Postgres schema) against local HTTP servers on
   127.0.0.1 run in a separate process. Scheduling lateness (probe start minus due time)
   p50/p99 (target p99 <= 50 ms), the probes skipped (still in flight, or whole intervals the
   scheduler fell behind), and the CPU seconds per second the checker used.
2. Detection in the checker: an app turns sick; time until its unhealthy transition (target:
   interval x unhealthyThreshold + timeout + 0.2 s).
3. Detection through the platform (`berth up`, a real container, read by polling the API as
   the dashboard and CLI do; target: interval x unhealthyThreshold + timeout + 1.5 s), and the
   largest gap between another app's checks while a hanging app's probes time out (target
   < 1.5 s at a 1 s interval).

Usage: .venv/bin/python bench/health.py [--apps 500] [--interval 1] [--seconds 30] [--trials 5]
       [--no-platform]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from _common import percentile, write_report
from berth_cli.launcher.platform import Platform
from berth_health.checker import Checker, CheckRow, Target
from berth_health.machine import Action, HealthState, Transition, went_live
from berth_health.migrations import MIGRATIONS
from berth_health.service import COLUMNS
from berth_shared import db
from berth_shared.contracts.health import HealthCheck
from berth_shared.settings import ServiceEnv
from berth_testing import (
    RunningPlatform,
    build_busybox_image,
    free_port,
    isolated_settings,
    start_platform,
    stop_platform,
    wait_for,
)

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
                Target(
                    f"bench-{i}", "rel", "a", ("127.0.0.1",), ports[i % len(ports)], check, went_live(HealthState(), 0)
                )
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
        "skipped_behind": checker.schedule.skipped,
        "cpu_seconds_per_second": round((cpu1 - cpu0) / wall, 3),
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),  # other work on the machine skews lateness
    }


class Switchable:
    """One local app whose answers the benchmark switches between 200 and 500."""

    def __init__(self) -> None:
        self.sick = False
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            status = b"500 Sick" if self.sick else b"200 OK"
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def until(cond: Any, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError("the checker did not get there within a minute")
        await asyncio.sleep(0.005)


async def detection(trials: int) -> dict[str, object]:
    """The checker alone (as the unit test runs it): sick -> the unhealthy transition."""
    app = Switchable()
    server = await asyncio.start_server(app.handle, "127.0.0.1", 0)
    app.port = server.sockets[0].getsockname()[1]
    changes: list[tuple[str, float]] = []

    async def on_change(t: Target, tr: Transition | None, a: Action | None) -> None:
        if tr is not None:
            changes.append((tr.kind, time.monotonic()))

    check = HealthCheck(
        interval_seconds=0.1, timeout_seconds=1, unhealthy_threshold=3, healthy_threshold=2, start_period_seconds=0
    )
    checker = Checker(on_change=on_change)
    checker.upsert(Target("app", "rel", "a", ("127.0.0.1",), app.port, check, went_live(HealthState(), 0)))
    stop = asyncio.Event()
    task = asyncio.create_task(checker.run(stop))
    seconds: list[float] = []
    try:
        await until(lambda: checker.targets["app"].state.state == "healthy")
        for _ in range(trials):
            before = len(changes)
            app.sick, t0 = True, time.monotonic()
            await until(lambda b=before: len(changes) > b)
            seconds.append(changes[-1][1] - t0)
            app.sick = False
            await until(lambda: checker.targets["app"].state.state == "healthy")
    finally:
        stop.set()
        await task
        server.close()
    bound = check.interval_seconds * check.unhealthy_threshold + check.timeout_seconds + 0.2
    return {
        "trials": trials,
        "interval_seconds": check.interval_seconds,
        "unhealthy_threshold": check.unhealthy_threshold,
        "timeout_seconds": check.timeout_seconds,
        "target_seconds": bound,
        "seconds_p50": round(percentile(seconds, 0.5), 3),
        "seconds_max": round(max(seconds), 3),
    }


PLATFORM_CHECK = {
    "path": "/cgi-bin/health",
    "intervalSeconds": 1,
    "timeoutSeconds": 1,
    "unhealthyThreshold": 2,
    "healthyThreshold": 1,
    "startPeriodSeconds": 0,
    "restartAfterSeconds": 3600,
}


def _ok(response: httpx.Response, status: int = 200) -> Any:
    if response.status_code != status:
        raise RuntimeError(f"{response.request.method} {response.request.url}: {response.text}")
    return response.json()


def _deploy_live(p: RunningPlatform, app: str, image: str) -> None:
    rel = _ok(p.api.post(f"/api/apps/{app}/deploy", json={"image": image}), 202)

    def live() -> bool:
        r = _ok(p.api.get(f"/api/apps/{app}/releases/{rel['id']}"))
        if r["status"] == "failed":
            raise RuntimeError(f"{app}: {r['reason']}")
        return bool(r["status"] == "live")

    wait_for(live, timeout=120, what=f"{app} live")


def _switch(p: RunningPlatform, app_id: str, to: str) -> None:
    (c,) = [c for c in p.containers(app_id) if c["State"]["Running"]]
    (net,) = c["NetworkSettings"]["Networks"].values()
    httpx.get(f"http://{net['IPAddress']}:8080/cgi-bin/{to}", timeout=5).raise_for_status()


def _state(p: RunningPlatform, app: str) -> str:
    return str(_ok(p.api.get(f"/api/apps/{app}/health"))["state"])


def through_platform(trials: int) -> dict[str, object]:
    image = build_busybox_image("berth-bench/web:health", "ok\n")
    with tempfile.TemporaryDirectory(prefix="berth-bench-health-") as home:
        p = start_platform(Path(home))
        try:
            wait_for(lambda: p.api.get("/api/webhooks").status_code == 200, timeout=60, what="the health service")
            app = _ok(p.api.post("/api/apps", json={"name": "hc-web", "healthCheck": PLATFORM_CHECK}), 201)
            _ok(p.api.post("/api/apps", json={"name": "hc-hang"}), 201)
            _deploy_live(p, "hc-web", image)
            _deploy_live(p, "hc-hang", image)
            wait_for(lambda: _state(p, "hc-web") == "healthy", timeout=60, what="healthy")
            seconds: list[float] = []
            for _ in range(trials):
                _switch(p, app["id"], "sick")
                t0 = time.monotonic()
                wait_for(lambda: _state(p, "hc-web") == "unhealthy", timeout=60, interval=0.05, what="unhealthy")
                seconds.append(time.monotonic() - t0)
                _switch(p, app["id"], "well")
                wait_for(lambda: _state(p, "hc-web") == "healthy", timeout=60, what="recovered")

            # A check that hangs 30 s (timing out after 3 s) beside hc-web's 1 s checks.
            hang = {**PLATFORM_CHECK, "path": "/cgi-bin/slow?30", "timeoutSeconds": 3}
            _ok(p.api.put("/api/apps/hc-hang/health", json=hang))
            wait_for(lambda: _state(p, "hc-hang") == "unhealthy", timeout=60, what="the hanging app unhealthy")
            began = time.time()
            time.sleep(10)  # ten more of hc-web's checks while the hanging app's probes time out
            items = _ok(p.api.get("/api/apps/hc-web/health", params={"limit": 30}))["history"]["items"]
            times = sorted(t for c in items if (t := datetime.fromisoformat(c["timestamp"]).timestamp()) >= began - 3)
            gaps = [b - a for a, b in itertools.pairwise(times)]
        finally:
            stop_platform(p)
    bound = 1 * 2 + 1 + 1.5
    return {
        "trials": trials,
        "target_seconds": bound,
        "seconds_p50": round(percentile(seconds, 0.5), 3),
        "seconds_max": round(max(seconds), 3),
        "neighbour_checks": len(times),
        "neighbour_gap_seconds_max": round(max(gaps), 3) if gaps else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--apps", type=int, default=500)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--no-platform", action="store_true", help="skip the measurement through `berth up`")
    args = parser.parse_args()
    r = asyncio.run(bench(args.apps, args.interval, args.seconds))
    d = asyncio.run(detection(args.trials))
    e = None if args.no_platform else through_platform(args.trials)
    r = {**r, "detection": d, "platform": e}
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
        f"(of {r['cpus']} CPUs; load average {r['load_average_1m']} at the end) |\n"
        f"| probes skipped because the previous one was still in flight | {r['skipped_inflight']} |\n"
        f"| probes skipped because the scheduler fell a whole interval behind | {r['skipped_behind']} |\n\n"
        "Lateness is the time from a check's due time to its probe starting (after the concurrency "
        "semaphore). CPU is the benchmark process's own (the checker and its Postgres writes, client side); "
        "the target servers run in another process.\n\n"
        f"**Detection in the checker** (every {d['interval_seconds']} s, unhealthy after {d['unhealthy_threshold']} "
        f"failures, {d['timeout_seconds']} s timeout; {d['trials']} trials): p50 {d['seconds_p50']} s, "
        f"max {d['seconds_max']} s ({_verdict(d['seconds_max'], d['target_seconds'])} the target "
        f"<= {d['target_seconds']} s).\n"
    )
    if e is not None:
        markdown += (
            f"\n**Detection through the platform** (a container turned sick, read by polling the API; every 1 s, "
            f"unhealthy after 2 failures, 1 s timeout; {e['trials']} trials): p50 {e['seconds_p50']} s, "
            f"max {e['seconds_max']} s ({_verdict(e['seconds_max'], e['target_seconds'])} the target "
            f"<= {e['target_seconds']} s). While another app's probes hung until their 3 s timeout, the largest gap "
            f"between this app's {e['neighbour_checks']} checks was {e['neighbour_gap_seconds_max']} s "
            f"({_verdict(e['neighbour_gap_seconds_max'], 1.5)} the target < 1.5 s).\n"
        )
    write_report("health", r, markdown)


def _verdict(value: object, target: object) -> str:
    return "meets" if value is not None and float(value) <= float(target) else "MISSES"  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
