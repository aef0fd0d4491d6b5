"""Cron and one-off runs (ADR 0026 §4-5), two figures reported apart:

**Decisions.** 200 cron jobs due at the same instant (50 apps with 4 jobs each: a test
platform's /21 holds 128 apps), handled by the API's own scheduler loop (``CronLoop``, real clock)
on the launcher's Postgres with the API's schema. Each run's ``late_ms`` is what the loop
recorded: due time -> the decision taken in its transaction (row, StartRun in the outbox, next due
time). Several rounds; target p99 <= 1 s. No container is started: that is the second figure.

**Start -> first output line.** On a whole platform (``start_platform``), an attached run
``POST /api/apps/{id}/runs {command: [echo, hello], attach: true}`` is timed from the request to
the first ``output`` event of ``GET …/runs/{id}/output``, against the floor of a bare
``docker run --rm IMAGE echo hello`` to its first stdout line, in the same run; target p50 <=
1.5x the floor. It needs the runtime agent to start runs (issue 17 phase 2, package B): when
the agent does not start one within 30 s, the part is reported as not measured.

Usage: .venv/bin/python bench/cron.py [decisions] [first-output] [--rounds N] [--n N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
from _common import percentile, summary, write_report
from berth_api import apps_store
from berth_api.consumers import release_events
from berth_api.cron import store
from berth_api.cron.run import CronLoop
from berth_api.migrations import MIGRATIONS
from berth_api.validation import CreateApp
from berth_cli.launcher.platform import Platform
from berth_shared.contracts.processes import CronJob, Formation
from berth_shared.contracts.releases import ReleaseLive
from berth_shared.db import create_pool, migrate
from berth_testing import build_busybox_image, isolated_settings, start_platform, stop_platform

APPS, JOBS_PER_APP = 50, 4
LATENESS_TARGET_MS = 1000.0
FIRST_OUTPUT_TARGET = 1.5


# -- decisions --


async def seed(pool: asyncpg.Pool, subnet_pool: str) -> None:
    jobs = [CronJob(name=f"job{j}", schedule="@daily", command=["true"]) for j in range(JOBS_PER_APP)]
    formation = msgspec.json.encode(Formation(cron=jobs)).decode()
    for i in range(APPS):
        async with pool.acquire() as conn:
            app = await apps_store.create_app(conn, CreateApp(name=f"cron{i}"), subnet_pool, "bench")
            _, rel = await apps_store.create_release(conn, str(app["id"]), "img:1", "deploy", "bench")
            await conn.execute("UPDATE releases SET formation = $2::jsonb WHERE id = $1", rel["id"], formation)
            await release_events.apply(conn, ReleaseLive(app_id=str(app["id"]), release_id=str(rel["id"]), slot="a"))
    await store.sync(pool, datetime.now(UTC))


async def round_of_decisions(pool: asyncpg.Pool) -> dict[str, Any]:
    """All jobs due 1 s from now; the loop runs until each has its run; returns the lateness."""
    await pool.execute("DELETE FROM runs")
    await pool.execute("DELETE FROM outbox")
    due = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0) + timedelta(seconds=1)
    await pool.execute("UPDATE cron_jobs SET next_due_at = $1", due)
    stop = asyncio.Event()
    loop = CronLoop(pool, "bench")
    task = asyncio.create_task(loop.run(stop))
    deadline = time.monotonic() + 60
    total = APPS * JOBS_PER_APP
    while await pool.fetchval("SELECT count(*) FROM runs WHERE status = 'pending'") < total:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    done_at = datetime.now(UTC)
    stop.set()
    await task
    rows = await pool.fetch("SELECT late_ms FROM runs WHERE status = 'pending'")
    late = [float(r["late_ms"]) for r in rows]
    return {"runs": len(late), "late_ms": late, "all_done_ms": (done_at - due).total_seconds() * 1000}


async def decisions(rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as home:
        settings = isolated_settings(Path(home))
        platform = Platform(settings, services=())
        await platform.start()
        try:
            pool = await create_pool(platform.service_database_url("api"), "api", max_size=4)
            await migrate(pool, "api", MIGRATIONS)
            await seed(pool, settings.subnet_pool)
            results = [await round_of_decisions(pool) for _ in range(rounds)]
            await pool.close()
        finally:
            await platform.stop()
    late = [v for r in results for v in r["late_ms"]]
    return {
        "jobs": APPS * JOBS_PER_APP,
        "rounds": rounds,
        "runs": [r["runs"] for r in results],
        "late_ms": {**summary(late), "p99": percentile(late, 0.99)},
        "all_decided_ms": summary([r["all_done_ms"] for r in results]),
    }


# -- start -> first output line --


def floor_runs(image: str, n: int) -> list[float]:
    """`docker run --rm IMAGE echo hello` until its first stdout line."""
    took = []
    for _ in range(n):
        started = time.monotonic()
        proc = subprocess.Popen(["docker", "run", "--rm", image, "echo", "hello"], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        proc.stdout.readline()
        took.append(time.monotonic() - started)
        proc.wait()
    return took


def first_output(api: httpx.Client, app: str, timeout: float = 30) -> float | None:
    """Seconds from the run's request to its first output event; None when nothing came."""
    started = time.monotonic()
    response = api.post(f"/api/apps/{app}/runs", json={"command": ["echo", "hello"], "attach": True})
    response.raise_for_status()
    run = response.json()
    with api.stream("GET", f"/api/apps/{app}/runs/{run['id']}/output", timeout=timeout) as stream:
        for line in stream.iter_lines():
            if line == "event: output":
                return time.monotonic() - started
            if line == "event: exit" or time.monotonic() - started > timeout:
                return None
    return None


def wait_live(api: httpx.Client, app: str, release_id: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        release = api.get(f"/api/apps/{app}/releases/{release_id}").json()
        if release["status"] == "live":
            return
        if release["status"] == "failed":
            raise RuntimeError(f"{app}: release failed: {release.get('reason')}")
        time.sleep(0.1)
    raise TimeoutError(f"{app} never went live")


def first_outputs(n: int) -> dict[str, Any]:
    """Runs and bare ``docker run``s alternate, so both see the same load on the shared machine."""
    image = build_busybox_image("berth-bench/web:v1", "v1\n")
    floor: list[float] = []
    seen: list[float] = []
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as home:
        p = start_platform(Path(home))
        try:
            assert p.api.post("/api/apps", json={"name": "runs"}).status_code == 201
            deployed = p.api.post("/api/apps/runs/deploy", json={"image": image})
            deployed.raise_for_status()
            wait_live(p.api, "runs", deployed.json()["id"])
            for _ in range(n):
                floor += floor_runs(image, 1)
                took = first_output(p.api, "runs")
                if took is None:
                    return {"measured": False, "reason": "the agent started no run within 30 s", "floor_s": floor}
                seen.append(took)
        finally:
            stop_platform(p)
    ratio = percentile(seen, 0.5) / percentile(floor, 0.5)
    return {
        "measured": True,
        "floor_s": {**summary(floor), "p99": percentile(floor, 0.99)},
        "first_output_s": {**summary(seen), "p99": percentile(seen, 0.99)},
        "p50_ratio": ratio,
        "load_average": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


# -- report --


def report(found: dict[str, Any]) -> str:
    md = ""
    if "decisions" in found:
        d = found["decisions"]
        late = d["late_ms"]
        ok = "meets" if late["p99"] <= LATENESS_TARGET_MS else "MISSES"
        md += (
            f"## Decisions: {d['jobs']} jobs due at once, {d['rounds']} rounds\n\n"
            "due time -> decision (late_ms as the scheduler records it, read in the job's transaction): "
            f"p50 {late['p50']:.0f} ms, "
            f"p90 {late['p90']:.0f} ms, p99 {late['p99']:.0f} ms, max {late['max']:.0f} ms "
            f"({ok} the target p99 <= {LATENESS_TARGET_MS:.0f} ms); every run decided "
            f"{d['all_decided_ms']['p50']:.0f} ms after the due time (p50 of rounds). "
            f"Runs per round: {d['runs']}. No container was started. Load average (1, 5, 15 min) at the "
            f"end: {d['load_average']} on {os.cpu_count()} CPUs (a shared machine).\n\n"
        )
    if "first_output" in found:
        f = found["first_output"]
        if not f["measured"]:
            md += f"## Start -> first output line\n\nnot measured: {f['reason']}.\n"
        else:
            ok = "meets" if f["p50_ratio"] <= FIRST_OUTPUT_TARGET else "MISSES"
            md += (
                "## Start -> first output line\n\n"
                f"attached run, request -> first output event: p50 {f['first_output_s']['p50'] * 1000:.0f} ms; "
                f"bare docker run -> first line: p50 {f['floor_s']['p50'] * 1000:.0f} ms; "
                f"{f['p50_ratio']:.2f}x the floor ({ok} the target <= {FIRST_OUTPUT_TARGET}x); "
                f"p90 {f['first_output_s']['p90'] * 1000:.0f} against {f['floor_s']['p90'] * 1000:.0f} ms. "
                f"{f['first_output_s']['n']:.0f} of each, alternated. Load average at the end: "
                f"{f['load_average']} on {os.cpu_count()} CPUs.\n"
            )
    return md


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("parts", nargs="*", default=["decisions", "first-output"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=10)
    args = parser.parse_args()
    found: dict[str, Any] = {}
    if "decisions" in args.parts:
        found["decisions"] = asyncio.run(decisions(args.rounds))
        found["decisions"]["load_average"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    if "first-output" in args.parts:
        found["first_output"] = first_outputs(args.n)
    write_report("cron", json.loads(json.dumps(found, default=str)), report(found))


if __name__ == "__main__":
    main()
