"""Applies what the runtime agent reports to releases and apps. Idempotent: each handler
moves state forward only from the states it expects, so a redelivered event changes nothing."""

from __future__ import annotations

import uuid

from berth_shared.contracts.builds import BuildLog
from berth_shared.contracts.processes import RELEASE, WEB
from berth_shared.contracts.releases import (
    COMMAND_HOPS,
    AgentEvent,
    AppCleanedUp,
    AppCrashed,
    ReleaseFailed,
    ReleaseLive,
    ReleaseStep,
)
from berth_shared.db import Connection

from berth_api import app_status, app_status_store, history_store, releases_store
from berth_api.history_store import HistoryEntry


async def apply(conn: Connection, event: AgentEvent) -> None:
    async with conn.transaction():
        match event:
            case ReleaseStep():
                await _on_step(conn, event)
            case ReleaseLive():
                await releases_store.go_live(conn, event)
            case ReleaseFailed():
                await releases_store.fail(conn, event)
            case AppCrashed():
                await _on_crashed(conn, event)
            case BuildLog():
                await _on_build_log(conn, event)
            case AppCleanedUp():
                await releases_store.forget_cleaned_up(conn, event)


async def _on_step(conn: Connection, e: ReleaseStep) -> None:
    release_id = uuid.UUID(e.release_id)
    exists = await conn.fetchval("SELECT 1 FROM releases WHERE id = $1", release_id)
    if not exists:
        return
    await conn.execute(
        "INSERT INTO release_steps (event_id, release_id, step, slot, detail, duration_ms, at, process, instance) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (event_id) DO NOTHING",
        e.id,
        release_id,
        e.step,
        e.slot,
        e.detail,
        e.duration_ms,
        e.at,
        e.process,
        e.instance,
    )
    if e.step in COMMAND_HOPS:
        return
    await conn.execute(
        "UPDATE releases SET status = 'starting', started_at = coalesce(started_at, $2), "
        "slot = coalesce(nullif($3, ''), slot) WHERE id = $1 AND status = 'pending'",
        release_id,
        e.at,
        e.slot,
    )
    if e.step == SERVING_STEP and e.process == WEB:
        await _first_release_serving(conn, e)


# The step after which the proxy serves a release: the new slot answers HTTP on its port. An
# app's *first* release has no live slot at the router yet, so Caddy falls back to both slots and
# reaches it at once; ``ReleaseLive`` follows once the router has switched (ADR 0025), and the
# app reads ``running`` from this step already (a browser gets the app).
SERVING_STEP = "health.passed"


async def _first_release_serving(conn: Connection, e: ReleaseStep) -> None:
    """The app's desired release serves and nothing else is live yet: the app is ``running``,
    deployed at that moment (``ReleaseLive`` later keeps that time)."""
    app = await app_status_store.locked(conn, uuid.UUID(e.app_id))
    if app is not None:
        await app_status_store.move(conn, app, app_status.FirstServing(str(uuid.UUID(e.release_id))), e.at)


BUILD_LOG_MAX = 1024 * 1024


async def _on_build_log(conn: Connection, e: BuildLog) -> None:
    """Append a chunk of build output — or of the release command's (``source`` ``release``, the
    release's ``releaseLog``, ADR 0026) — once and in order (chunks carry a sequence number per
    source); each log keeps its last MiB."""
    text = "".join(line if line.endswith("\n") else line + "\n" for line in e.lines)
    log = "release_log" if e.source == RELEASE else "build_log"
    await conn.execute(
        f"UPDATE releases SET {log} = right({log} || $3, $4), {log}_seq = $2 WHERE id = $1 AND {log}_seq < $2",
        uuid.UUID(e.release_id),
        e.seq,
        text,
        BUILD_LOG_MAX,
    )


async def _on_crashed(conn: Connection, e: AppCrashed) -> None:
    detail: dict[str, object] = {"exitCode": e.exit_code, "restarts": e.restarts, "process": e.process}
    if e.reason:  # the engine refused to start it again
        detail["reason"] = e.reason
    await history_store.record(conn, HistoryEntry(e.id, e.app_id, e.release_id, "app.crashed", detail, e.at))
    app = await app_status_store.locked(conn, uuid.UUID(e.app_id))
    if app is not None:
        crashed = app_status.Crashed(str(uuid.UUID(e.release_id)), e.exit_code, e.restarts, e.reason, e.process)
        moved = await app_status_store.move(conn, app, crashed)
        if moved is not None and e.process != WEB:
            # Which process Berth stopped restarting (``GET processes``); a new live release clears it.
            await conn.execute(
                "UPDATE apps SET crashed_processes = crashed_processes || jsonb_build_object($2::text, $3::text) "
                "WHERE id = $1",
                app["id"],
                e.process,
                moved["status_reason"],
            )
