"""Cron jobs in real Postgres: synced from the live release, exactly one run per due time even
with two passes at once, the run's row, its StartRun and the next due time in one transaction,
misses and skips in the history, run reports ending runs (ADR 0026 §4)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
import pytest
from berth_api import apps_store, runs_store
from berth_api.cron import store
from berth_api.validation import CreateApp
from berth_shared.contracts.base import decode
from berth_shared.contracts.processes import CronJob, Formation
from berth_shared.contracts.runs import RunFinished, RunStarted, StartRun, StopRun
from berth_shared.errors import Conflict

pytestmark = pytest.mark.integration

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
HOST = "test-host"


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


async def live_app(pool: asyncpg.Pool, infra: Any, *jobs: CronJob) -> uuid.UUID:
    """An app whose live release states ``jobs``, synced at T0."""
    async with pool.acquire() as conn:
        app = await apps_store.create_app(
            conn, CreateApp(name=f"c{uuid.uuid4().hex[:10]}"), infra.settings.subnet_pool, "test"
        )
    await go_live(pool, app["id"], list(jobs), version=1)
    return app["id"]  # type: ignore[no-any-return]


async def go_live(pool: asyncpg.Pool, app_id: uuid.UUID, jobs: list[CronJob], version: int) -> uuid.UUID:
    release_id = uuid.uuid4()
    formation = msgspec.json.encode(Formation(cron=jobs)).decode()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO releases (id, app_id, version, kind, image, status, formation) "
            "VALUES ($1, $2, $3, 'deploy', 'img:1', 'live', $4::jsonb)",
            release_id,
            app_id,
            version,
            formation,
        )
        await conn.execute("UPDATE apps SET current_release_id = $2 WHERE id = $1", app_id, release_id)
        await store.sync_app(conn, app_id, T0)
    return release_id


async def outbox(pool: asyncpg.Pool, app_id: uuid.UUID) -> list[tuple[str, Any]]:
    rows = await pool.fetch("SELECT subject, payload FROM outbox ORDER BY id")
    out = []
    for r in rows:
        message = json.loads(bytes(r["payload"]))
        if message.get("app_id") == str(app_id):
            out.append((r["subject"], message))
    return out


async def history(pool: asyncpg.Pool, app_id: uuid.UUID) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM runs WHERE app_id = $1 ORDER BY created_at, due_at", app_id)  # type: ignore[no-any-return]


def tick(name: str = "tick", schedule: str = "*/5 * * * *", **kw: Any) -> CronJob:
    kw.setdefault("command", ["echo", name])
    return CronJob(name=name, schedule=schedule, **kw)


async def test_jobs_come_from_the_live_release_and_keep_their_due_time_when_unchanged(
    pool: asyncpg.Pool, infra: Any
) -> None:
    app_id = await live_app(pool, infra, tick(), tick("nightly", "0 3 * * *"))
    rows = {r["name"]: r for r in await store.jobs(pool, app_id)}
    assert rows["tick"]["next_due_at"] == T0 + 5 * MIN
    assert rows["nightly"]["next_due_at"] == datetime(2030, 1, 2, 3, 0, tzinfo=UTC)
    await pool.execute("UPDATE cron_jobs SET next_due_at = $2 WHERE app_id = $1 AND name = 'tick'", app_id, T0 + MIN)
    # the next release keeps tick as it was, changes nightly's schedule and drops nothing else
    await go_live(pool, app_id, [tick(command=["echo", "v2"]), tick("nightly", "0 4 * * *")], version=2)
    rows = {r["name"]: r for r in await store.jobs(pool, app_id)}
    assert rows["tick"]["next_due_at"] == T0 + MIN
    assert json.loads(rows["tick"]["command"]) == ["echo", "v2"]
    assert rows["nightly"]["next_due_at"] == datetime(2030, 1, 2, 4, 0, tzinfo=UTC)
    await go_live(pool, app_id, [], version=3)
    assert await store.jobs(pool, app_id) == []


async def test_a_due_time_starts_exactly_one_run_even_with_two_passes_at_once(pool: asyncpg.Pool, infra: Any) -> None:
    app_id = await live_app(pool, infra, tick())
    clock = Clock(T0 + 5 * MIN + timedelta(milliseconds=300))
    first, second = await asyncio.gather(store.run_due(pool, HOST, clock), store.run_due(pool, HOST, clock))
    mine = [h for h in first + second if h.app_id == app_id]
    assert len(mine) == 1 and mine[0].run_id is not None
    runs = await history(pool, app_id)
    assert [(r["status"], r["due_at"], r["trigger"], r["late_ms"]) for r in runs] == [
        ("pending", T0 + 5 * MIN, "schedule", 300)
    ]
    sent = await outbox(pool, app_id)
    assert [(s, decode(json.dumps(m).encode(), StartRun).run_id) for s, m in sent if s.endswith(".run")] == [
        (f"berth.cmd.agent.{HOST}.run", str(runs[0]["id"]))
    ]
    job = (await store.jobs(pool, app_id))[0]
    assert (job["last_due_at"], job["next_due_at"]) == (T0 + 5 * MIN, T0 + 10 * MIN)
    # another pass at the same time finds nothing to do
    assert [h for h in await store.run_due(pool, HOST, clock) if h.app_id == app_id] == []


async def test_forbid_skips_while_a_run_is_unfinished_and_a_finished_run_frees_the_job(
    pool: asyncpg.Pool, infra: Any
) -> None:
    app_id = await live_app(pool, infra, tick())
    await store.run_due(pool, HOST, Clock(T0 + 5 * MIN))
    await store.run_due(pool, HOST, Clock(T0 + 10 * MIN))
    runs = await history(pool, app_id)
    assert [r["status"] for r in runs] == ["pending", "skipped"]
    async with pool.acquire() as conn, conn.transaction():
        with pytest.raises(Conflict):
            await store.run_now(conn, HOST, app_id, "tick", "tester")
    first = str(runs[0]["id"])
    async with pool.acquire() as conn, conn.transaction():
        await runs_store.started(conn, RunStarted(app_id=str(app_id), run_id=first, container_id="c1"), T0 + 10 * MIN)
        await runs_store.finished(
            conn,
            RunFinished(app_id=str(app_id), run_id=first, outcome="exited", exit_code=3, last_lines=["boom"]),
            T0 + 11 * MIN,
        )
    await store.run_due(pool, HOST, Clock(T0 + 15 * MIN))
    runs = await history(pool, app_id)
    assert [(r["status"], r["exit_code"]) for r in runs] == [("exited", 3), ("skipped", None), ("pending", None)]
    failed = [m for s, m in await outbox(pool, app_id) if s == f"berth.evt.api.cron.failed.{app_id}"]
    assert [(m["run_id"], m["exit_code"], m["last_lines"]) for m in failed] == [(first, 3, ["boom"])]


async def test_replace_stops_the_running_one_and_a_long_outage_is_missed_once_with_catch_up(
    pool: asyncpg.Pool, infra: Any
) -> None:
    app_id = await live_app(pool, infra, tick(concurrency="replace", catch_up=True))
    await store.run_due(pool, HOST, Clock(T0 + 5 * MIN))
    # the API was away from 12:05 to 12:23: 12:10 .. 12:20 are missed, 12:20 caught up
    await store.run_due(pool, HOST, Clock(T0 + 23 * MIN))
    runs = await history(pool, app_id)
    by_status = {r["status"]: r for r in runs}
    assert sorted(by_status) == ["missed", "pending"]
    pending = [r for r in runs if r["status"] == "pending"]
    assert [(r["due_at"], r["trigger"]) for r in pending] == [(T0 + 5 * MIN, "schedule"), (T0 + 20 * MIN, "catch_up")]
    missed = by_status["missed"]
    assert (missed["first_due_at"], missed["due_at"], missed["missed_count"]) == (T0 + 10 * MIN, T0 + 20 * MIN, 3)
    sent = await outbox(pool, app_id)
    stops = [decode(json.dumps(m).encode(), StopRun) for s, m in sent if s.endswith(".stop_run")]
    assert [s.run_id for s in stops] == [str(pending[0]["id"])]
    misses = [m for s, m in sent if s == f"berth.evt.api.cron.missed.{app_id}"]
    assert [(m["missed"], m["caught_up_run_id"]) for m in misses] == [(3, str(pending[1]["id"]))]
    job = (await store.jobs(pool, app_id))[0]
    assert job["next_due_at"] == T0 + 25 * MIN


async def test_a_manual_run_is_audited_and_jobs_of_a_deleted_app_never_run(pool: asyncpg.Pool, infra: Any) -> None:
    app_id = await live_app(pool, infra, tick(concurrency="allow"))
    async with pool.acquire() as conn, conn.transaction():
        run = await store.run_now(conn, HOST, app_id, "tick", "tester")
    assert (run["trigger"], run["actor"], run["due_at"]) == ("manual", "tester", None)
    audit = await pool.fetch("SELECT action, detail FROM audit_log WHERE app_id = $1", app_id)
    assert [(a["action"], json.loads(a["detail"])["argv"]) for a in audit if a["action"] == "run.started"] == [
        ("run.started", ["echo", "tick"])
    ]
    await pool.execute("UPDATE apps SET deleted_at = now() WHERE id = $1", app_id)
    assert [h for h in await store.run_due(pool, HOST, Clock(T0 + 6 * MIN)) if h.app_id == app_id] == []
