"""Cron jobs in Postgres (``cron_jobs``; ADR 0026 §4): synced from each app's live release, and
a pass over the due ones that applies :func:`berth_api.cron.decide.decide`.

Exactly once per due time: each due job is taken ``FOR UPDATE SKIP LOCKED`` (two passes never
take the same job), and its run's row (``runs``, unique per job and due time), the ``StartRun``
command (outbox), the history entries and its next due time commit in one transaction. A crash
before the commit leaves the due time pending; after it, the due time is done and the outbox
publishes the command.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import msgspec
from berth_shared.contracts.cron import cron_event_subject
from berth_shared.contracts.processes import CronJob, Formation
from berth_shared.db import Connection
from berth_shared.errors import Conflict, NotFound

from berth_api import cron_events, runs_store
from berth_api.audit_log import Actor
from berth_api.cron.decide import Decision, Job, Scheduled, admit, decide, resync
from berth_api.outbox import enqueue

Clock = Callable[[], datetime]

# Due jobs handled at once in a pass, each on its own pooled connection (the API's pool has 5).
WORKERS = 3

# The release's formation (NULL for releases before issue 17: no jobs).
_FORMATION = "SELECT formation FROM releases WHERE id = $1"

_DUE = (
    "SELECT j.* FROM cron_jobs j JOIN apps a ON a.id = j.app_id "
    "WHERE j.next_due_at <= $1 AND a.deleted_at IS NULL AND a.cron_release_id = j.release_id "
    "ORDER BY j.next_due_at LIMIT 1 FOR UPDATE OF j SKIP LOCKED"
)


@dataclass(frozen=True)
class Handled:
    """What a pass did with one job's due time (for logs and ``bench/cron``)."""

    app_id: uuid.UUID
    job: str
    decision: Decision
    run_id: uuid.UUID | None


def cron_jobs_of(raw: str | None) -> list[CronJob]:
    if not raw or raw == "null":
        return []
    return msgspec.json.decode(raw.encode(), type=Formation).cron


async def sync(pool: asyncpg.Pool, now: datetime) -> int:
    """Re-sync the jobs of every app whose live release is not the one its jobs came from;
    returns how many apps were synced."""
    apps = await pool.fetch(
        "SELECT id FROM apps WHERE deleted_at IS NULL AND current_release_id IS NOT NULL "
        "AND current_release_id IS DISTINCT FROM cron_release_id"
    )
    for app in apps:
        async with pool.acquire() as conn, conn.transaction():
            await sync_app(conn, app["id"], now)
    return len(apps)


async def sync_app(conn: Connection, app_id: uuid.UUID, now: datetime) -> None:
    """The app's jobs become its live release's. Call inside a transaction."""
    app = await conn.fetchrow("SELECT current_release_id, cron_release_id FROM apps WHERE id = $1 FOR UPDATE", app_id)
    if app is None or app["current_release_id"] is None or app["current_release_id"] == app["cron_release_id"]:
        return
    release_id = app["current_release_id"]
    wanted = cron_jobs_of(await conn.fetchval(_FORMATION, release_id))
    rows = await conn.fetch("SELECT * FROM cron_jobs WHERE app_id = $1 FOR UPDATE", app_id)
    stored = {r["name"]: Scheduled(r["schedule"], r["timezone"], r["next_due_at"], r["last_due_at"]) for r in rows}
    kept, gone = resync(stored, wanted, now)
    await conn.execute("DELETE FROM cron_jobs WHERE app_id = $1 AND name = ANY($2::text[])", app_id, gone)
    for job in wanted:
        due = kept[job.name]
        await conn.execute(
            "INSERT INTO cron_jobs (app_id, name, release_id, schedule, timezone, command, timeout_seconds, "
            "concurrency, catch_up, next_due_at, last_due_at) "
            "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11) "
            "ON CONFLICT (app_id, name) DO UPDATE SET release_id = $3, schedule = $4, timezone = $5, "
            "command = $6::jsonb, timeout_seconds = $7, concurrency = $8, catch_up = $9, "
            "next_due_at = $10, last_due_at = $11",
            app_id,
            job.name,
            release_id,
            job.schedule,
            job.timezone,
            json.dumps(job.command),
            job.timeout_seconds,
            job.concurrency,
            job.catch_up,
            due.next_due_at,
            due.last_due_at,
        )
    await conn.execute("UPDATE apps SET cron_release_id = $2 WHERE id = $1", app_id, release_id)


def _job(row: asyncpg.Record) -> Job:
    return Job(
        app_id=str(row["app_id"]),
        name=row["name"],
        schedule=row["schedule"],
        next_due_at=row["next_due_at"],
        timezone=row["timezone"],
        concurrency=row["concurrency"],
        catch_up=row["catch_up"],
    )


async def run_due(
    pool: asyncpg.Pool, host: str, clock: Clock, *, limit: int = 10_000, workers: int = WORKERS
) -> list[Handled]:
    """One pass: every job due at the clock's time, one transaction each, ``workers`` at once
    (``SKIP LOCKED`` hands each job to one of them)."""
    handled: list[Handled] = []

    async def work() -> None:
        while len(handled) < limit:
            async with pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(_DUE, clock())
                if row is None:
                    return
                handled.append(await _handle(conn, host, row, clock()))

    await asyncio.gather(*(work() for _ in range(workers)))
    return handled


async def _handle(conn: Connection, host: str, row: asyncpg.Record, now: datetime) -> Handled:
    app_id, name = row["app_id"], row["name"]
    running = await runs_store.unfinished(conn, app_id, name)
    decision = decide(_job(row), running, now)
    assert decision is not None  # selected as due at this time
    for other in decision.stop:
        await runs_store.stop(conn, host, app_id, uuid.UUID(other), f"replaced by the run due {decision.due_at}")
    run_id: uuid.UUID | None = None
    if decision.run is not None:
        run = await runs_store.create(
            conn,
            app_id=app_id,
            release_id=row["release_id"],
            host=host,
            command=json.loads(row["command"]),
            kind="cron",
            job=name,
            trigger=decision.run.trigger,
            due_at=decision.run.due_at,
            late_ms=decision.run.late_ms,
            timeout_seconds=row["timeout_seconds"],
        )
        run_id = run["id"]
    if decision.skipped is not None:
        s = decision.skipped
        await runs_store.entry(conn, app_id=app_id, job=name, status="skipped", due_at=s.due_at, reason=s.reason)
    if decision.missed is not None:
        m = decision.missed
        reason = f"{m.count} due time(s) from {m.first_due_at.isoformat()} to {m.last_due_at.isoformat()} missed"
        await runs_store.entry(
            conn,
            app_id=app_id,
            job=name,
            status="missed",
            due_at=m.last_due_at,
            first_due_at=m.first_due_at,
            missed_count=m.count,
            reason=reason,
        )
        missed = cron_events.runs_missed(str(app_id), name, m, str(run_id) if run_id else "")
        await enqueue(conn, cron_event_subject("missed", str(app_id)), missed)
    await conn.execute(
        "UPDATE cron_jobs SET next_due_at = $3, last_due_at = $4 WHERE app_id = $1 AND name = $2",
        app_id,
        name,
        decision.next_due_at,
        decision.due_at,
    )
    if decision.skipped is not None or decision.missed is not None:  # finished runs prune when they end
        await runs_store.prune(conn, app_id, name)
    return Handled(app_id=app_id, job=name, decision=decision, run_id=run_id)


async def earliest_due(pool: asyncpg.Pool) -> datetime | None:
    """The earliest due time a pass would act on."""
    return await pool.fetchval(  # type: ignore[no-any-return]
        "SELECT min(j.next_due_at) FROM cron_jobs j JOIN apps a ON a.id = j.app_id "
        "WHERE a.deleted_at IS NULL AND a.cron_release_id = j.release_id"
    )


async def jobs(conn: Connection | asyncpg.Pool, app_id: uuid.UUID) -> list[asyncpg.Record]:
    """The app's jobs, each with its last run (or history entry)."""
    return await conn.fetch(
        "SELECT j.*, last.id AS last_run_id, last.status AS last_status, last.exit_code AS last_exit_code, "
        "last.created_at AS last_at, last.started_at AS last_started_at, last.due_at AS last_run_due_at "
        "FROM cron_jobs j LEFT JOIN LATERAL ("
        "SELECT id, status, exit_code, created_at, started_at, due_at FROM runs "
        "WHERE runs.app_id = j.app_id AND runs.job = j.name "
        "ORDER BY created_at DESC LIMIT 1) last ON true WHERE j.app_id = $1 ORDER BY j.name",
        app_id,
    )


async def run_now(conn: Connection, host: str, app_id: uuid.UUID, name: str, actor: Actor) -> asyncpg.Record:
    """A manual run of job ``name`` under its concurrency policy (Conflict when ``forbid`` or
    ``allow``'s limit holds it back). Call inside a transaction."""
    row = await conn.fetchrow("SELECT * FROM cron_jobs WHERE app_id = $1 AND name = $2 FOR UPDATE", app_id, name)
    if row is None:
        raise NotFound(f"no cron job {name!r}")
    admission = admit(row["concurrency"], await runs_store.unfinished(conn, app_id, name))
    if not admission.start:
        raise Conflict(f"cron job {name!r} not started: {admission.reason}")
    for other in admission.stop:
        await runs_store.stop(conn, host, app_id, uuid.UUID(other), "replaced by a manual run")
    return await runs_store.create(
        conn,
        app_id=app_id,
        release_id=row["release_id"],
        host=host,
        command=json.loads(row["command"]),
        kind="cron",
        job=name,
        trigger="manual",
        timeout_seconds=row["timeout_seconds"],
        actor=actor,
    )
