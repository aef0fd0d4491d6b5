"""Runs (``runs`` table, ADR 0026 §5): one-off and cron runs of an app's live release.

A run's row, its audit entry and the ``StartRun`` command (the outbox) are written in the
caller's transaction; the agent asks for what to start (:func:`desired`) and reports
``RunStarted`` / ``RunFinished`` (:func:`started`, :func:`finished`). A cron run that failed
publishes ``CronRunFailed`` in the transaction that records it. Rows with status ``skipped`` or
``missed`` are the cron history's entries, never sent to the agent.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg
from berth_shared.contracts.cron import cron_event_subject
from berth_shared.contracts.runs import (
    RunFinished,
    RunStarted,
    StartRun,
    StopRun,
    run_command_subject,
    stop_run_subject,
)
from berth_shared.db import Connection

from berth_api import cron_events
from berth_api.audit_log import PLATFORM, Actor, audit
from berth_api.outbox import enqueue
from berth_api.run_repairs import Unfinished
from berth_api.scopes import Principal

UNFINISHED = ("pending", "running")
# How many finished entries of a cron job's history are kept.
KEEP_PER_JOB = 100


async def create(
    conn: Connection,
    *,
    app_id: uuid.UUID,
    release_id: uuid.UUID,
    host: str,
    command: Sequence[str],
    kind: str = "run",
    job: str | None = None,
    trigger: str | None = None,
    due_at: datetime | None = None,
    late_ms: int | None = None,
    attach: bool = False,
    stdin: bool = False,
    timeout_seconds: int = 3600,
    actor: Actor = PLATFORM,
    run_id: uuid.UUID | None = None,
) -> asyncpg.Record:
    """A run to start: its row, its audit entry and ``StartRun``. Call inside a transaction."""
    row = await conn.fetchrow(
        "INSERT INTO runs (id, app_id, release_id, kind, job, trigger, due_at, command, attach, stdin, "
        "timeout_seconds, late_ms, actor, token_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12, $13, $14) RETURNING *",
        run_id or uuid.uuid4(),
        app_id,
        release_id,
        kind,
        job,
        trigger,
        due_at,
        json.dumps(list(command)),
        attach,
        stdin,
        timeout_seconds,
        late_ms,
        actor.name if isinstance(actor, Principal) else actor,
        actor.token_id if isinstance(actor, Principal) else None,
    )
    assert row is not None
    await enqueue(conn, run_command_subject(host), StartRun(app_id=str(app_id), run_id=str(row["id"])))
    detail: dict[str, object] = {"run": str(row["id"]), "kind": kind, "argv": list(command)}
    if job:
        detail |= {"job": job, "trigger": trigger}
    await audit(conn, actor, "run.started", app_id, detail)
    return row  # type: ignore[no-any-return]


async def entry(
    conn: Connection,
    *,
    app_id: uuid.UUID,
    job: str,
    status: str,
    due_at: datetime,
    reason: str,
    first_due_at: datetime | None = None,
    missed_count: int | None = None,
) -> None:
    """A cron history entry that is no run: ``skipped`` (its due time) or ``missed``."""
    await conn.execute(
        "INSERT INTO runs (id, app_id, kind, job, trigger, due_at, first_due_at, missed_count, status, reason, "
        "finished_at) VALUES ($1, $2, 'cron', $3, 'schedule', $4, $5, $6, $7, $8, now()) ON CONFLICT DO NOTHING",
        uuid.uuid4(),
        app_id,
        job,
        due_at,
        first_due_at,
        missed_count,
        status,
        reason,
    )


async def stop(conn: Connection, host: str, app_id: uuid.UUID, run_id: uuid.UUID, reason: str) -> None:
    """Ask the agent to stop a run (it ends ``stopped`` when the agent says so)."""
    await enqueue(conn, stop_run_subject(host), StopRun(app_id=str(app_id), run_id=str(run_id), reason=reason))


async def unfinished(conn: Connection, app_id: uuid.UUID, job: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT id FROM runs WHERE app_id = $1 AND job = $2 AND status = ANY($3::text[]) ORDER BY created_at",
        app_id,
        job,
        list(UNFINISHED),
    )
    return [str(r["id"]) for r in rows]


async def unfinished_all(conn: Connection) -> list[Unfinished]:
    """Every run the API still waits to hear the end of."""
    rows = await conn.fetch("SELECT id, app_id, created_at FROM runs WHERE status = ANY($1::text[])", list(UNFINISHED))
    return [Unfinished(str(r["id"]), str(r["app_id"]), r["created_at"]) for r in rows]


async def prune(conn: Connection, app_id: uuid.UUID, job: str) -> None:
    """Keep the newest :data:`KEEP_PER_JOB` finished entries of a job's history."""
    await conn.execute(
        "DELETE FROM runs WHERE app_id = $1 AND job = $2 AND status <> ALL($3::text[]) AND id NOT IN ("
        "SELECT id FROM runs WHERE app_id = $1 AND job = $2 ORDER BY created_at DESC LIMIT $4)",
        app_id,
        job,
        list(UNFINISHED),
        KEEP_PER_JOB,
    )


async def get(conn: Connection | asyncpg.Pool, app_id: uuid.UUID, run_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM runs WHERE app_id = $1 AND id = $2", app_id, run_id)


async def recent(
    conn: Connection | asyncpg.Pool, app_id: uuid.UUID, *, job: str | None = None, limit: int = 50
) -> list[asyncpg.Record]:
    if job is None:
        return await conn.fetch(
            "SELECT * FROM runs WHERE app_id = $1 AND status <> ALL('{skipped,missed}') "
            "ORDER BY created_at DESC LIMIT $2",
            app_id,
            limit,
        )
    return await conn.fetch(
        "SELECT * FROM runs WHERE app_id = $1 AND job = $2 ORDER BY created_at DESC LIMIT $3", app_id, job, limit
    )


async def started(conn: Connection, e: RunStarted, at: datetime) -> None:
    """The agent started the run (a redelivery, or a start after its end, changes nothing)."""
    await conn.execute(
        "UPDATE runs SET status = 'running', started_at = $3, container_id = $4 "
        "WHERE app_id = $1 AND id = $2 AND status = 'pending'",
        uuid.UUID(e.app_id),
        uuid.UUID(e.run_id),
        at,
        e.container_id,
    )


async def finished(conn: Connection, e: RunFinished, at: datetime) -> asyncpg.Record | None:
    """The run ended: its row records how; a failed cron run publishes ``CronRunFailed``; the
    audit log gets ``run.finished``. Only the first report counts. Call inside a transaction."""
    row = await conn.fetchrow(
        "UPDATE runs SET status = $3, exit_code = $4, reason = $5, last_lines = $6::jsonb, finished_at = $7, "
        "duration_ms = $8, started_at = coalesce(started_at, $7) "
        "WHERE app_id = $1 AND id = $2 AND status = ANY($9::text[]) RETURNING *",
        uuid.UUID(e.app_id),
        uuid.UUID(e.run_id),
        e.outcome,
        e.exit_code,
        e.reason,
        json.dumps(e.last_lines[-cron_events.LAST_LINES :]),
        at,
        e.duration_ms,
        list(UNFINISHED),
    )
    if row is None:
        return None
    event = cron_events.run_failed(e, row["job"] or "", row["due_at"]) if row["kind"] == "cron" else None
    if event is not None:
        await enqueue(conn, cron_event_subject("failed", e.app_id), event)
    detail: dict[str, object] = {"run": e.run_id, "outcome": e.outcome, "exitCode": e.exit_code}
    await audit(conn, PLATFORM, "run.finished", row["app_id"], detail)
    if row["job"]:
        await prune(conn, row["app_id"], row["job"])
    return row  # type: ignore[no-any-return]
