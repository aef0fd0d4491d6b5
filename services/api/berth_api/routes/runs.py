"""/api/apps/{id}/runs: one-off runs of the app's live release (ADR 0026 §5): start one (its
row, audit entry and ``StartRun`` commit together; for an attached run the API listens to its
output first), read them, stop one, follow an attached run's output (SSE, resumable by ``seq``)
and send it stdin."""

from __future__ import annotations

import base64
import shlex
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import asyncpg
from berth_shared.contracts.runs import RunOutput
from berth_shared.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import Field

from berth_api import apps_store, run_relay, runs_store, sse
from berth_api.audit_log import audit
from berth_api.deps import Actor, State, authorize
from berth_api.run_views import run_view
from berth_api.validation import Body

router = APIRouter(prefix="/api", dependencies=[Depends(authorize)])

MAX_STDIN = 64 * 1024
MAX_ARGV = 64 * 1024
FINISHED = frozenset({"exited", "timed_out", "stopped", "failed_to_start", "lost"})


class StartRunBody(Body):
    """POST /api/apps/{id}/runs: ``command`` an argv, or a string split like a POSIX shell
    splits it (no shell: ``sh -c "…"`` for pipes and ``$VAR``)."""

    command: list[str] | str
    attach: bool = False
    stdin: bool = False
    timeout_seconds: Annotated[int, Field(alias="timeoutSeconds", ge=1, le=86_400)] = 3600


def argv_of(command: list[str] | str) -> list[str]:
    """The run's argv; 422 on ``command`` when it is empty, unbalanced or too long."""
    if isinstance(command, str):
        try:
            argv = shlex.split(command)
        except ValueError as exc:
            raise ValidationFailed.on("command", f"cannot be split into words: {exc}") from None
    else:
        argv = list(command)
    if not argv or not argv[0]:
        raise ValidationFailed.on("command", "must name a program")
    if sum(len(a) for a in argv) > MAX_ARGV or any("\x00" in a for a in argv):
        raise ValidationFailed.on("command", f"must be at most {MAX_ARGV} characters, without NUL")
    return argv


async def _run(s: Any, ref: str, run_id: str) -> tuple[asyncpg.Record, asyncpg.Record]:
    app = await apps_store.find_app(s.pool, ref)
    try:
        rid = uuid.UUID(run_id)
    except ValueError:
        raise NotFound(f"no run {run_id!r}") from None
    row = await runs_store.get(s.pool, app["id"], rid)
    if row is None:
        raise NotFound(f"no run {run_id!r}")
    return app, row


@router.post("/apps/{ref}/runs", status_code=202)
async def start_run(ref: str, body: StartRunBody, s: State, actor: Actor) -> dict[str, Any]:
    """Start a one-off run of the live release; 409 when the app has none."""
    argv = argv_of(body.command)
    relay = run_relay.of(s.nc)
    # An attached run's output is listened to before the run is committed (the agent may start
    # it the moment the command leaves); a run that is not committed is forgotten again.
    run_id = uuid.uuid4()
    try:
        async with s.pool.acquire() as conn, conn.transaction():
            app = await apps_store.find_app(conn, ref, for_update=True)
            release = await apps_store.current_release(conn, app)
            if release is None or app["deleted_at"] is not None:
                raise Conflict(f"app {app['name']!r} has no live release to run")
            if body.attach:
                await relay.watch(str(app["id"]), str(run_id))
            row = await runs_store.create(
                conn,
                app_id=app["id"],
                release_id=release["id"],
                host=s.settings.host_id,
                command=argv,
                attach=body.attach,
                stdin=body.stdin and body.attach,
                timeout_seconds=body.timeout_seconds,
                actor=actor,
                run_id=run_id,
            )
    except BaseException:
        await relay.forget(str(run_id))
        raise
    return run_view(row)


@router.get("/apps/{ref}/runs")
async def list_runs(ref: str, s: State, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    app = await apps_store.find_app(s.pool, ref)
    return {"items": [run_view(r) for r in await runs_store.recent(s.pool, app["id"], limit=limit)]}


@router.get("/apps/{ref}/runs/{run_id}")
async def get_run(ref: str, run_id: str, s: State) -> dict[str, Any]:
    _, row = await _run(s, ref, run_id)
    return run_view(row)


@router.post("/apps/{ref}/runs/{run_id}/stop", status_code=202)
async def stop_run(ref: str, run_id: str, s: State, actor: Actor) -> dict[str, Any]:
    """Ask the agent to stop the run (SIGTERM, then SIGKILL after the app's stop timeout); it
    ends ``stopped``. 409 when it already ended."""
    app, row = await _run(s, ref, run_id)
    if row["status"] not in runs_store.UNFINISHED:
        raise Conflict(f"run {run_id} already ended ({row['status']})")
    async with s.pool.acquire() as conn, conn.transaction():
        await runs_store.stop(conn, s.settings.host_id, app["id"], row["id"], f"stopped by {actor.name}")
        await audit(conn, actor, "run.stop", app["id"], {"run": str(row["id"])})
    return run_view(row)


def _chunk_event(chunk: RunOutput) -> str:
    data: dict[str, object] = {"seq": chunk.seq, "stream": chunk.stream}
    try:
        data["data"] = chunk.data.decode()
    except UnicodeDecodeError:
        data["base64"] = base64.b64encode(chunk.data).decode()
    return sse.event(data, id=chunk.seq, name="output")


@router.get("/apps/{ref}/runs/{run_id}/output")
async def run_output(
    ref: str, run_id: str, s: State, request: Request, after: Annotated[int, Query(ge=-1)] = -1
) -> StreamingResponse:
    """An attached run's output as Server-Sent Events: ``output`` {seq, stream, data} from the
    start (or after ``after`` / ``Last-Event-ID``), then ``exit`` {exitCode, outcome}. The relay
    keeps a run's output 5 minutes after its end; the logs keep every line (``?run=``)."""
    app, row = await _run(s, ref, run_id)
    if not row["attach"]:
        raise Conflict(f"run {run_id} is not attached: read its output with GET /api/apps/{ref}/logs?run={run_id}")
    last = request.headers.get("last-event-id")
    if last and last.strip().lstrip("-").isdigit():
        after = max(after, int(last))
    relay = run_relay.of(s.nc)

    async def events() -> AsyncIterator[str]:
        rid = str(row["id"])
        if relay.known(rid):
            async for chunk in relay.follow(rid, after, idle=2.0):
                if chunk is None:
                    current = await runs_store.get(s.pool, app["id"], row["id"])
                    if current is not None and current["status"] in FINISHED:
                        await relay.end(rid, current["exit_code"])
                    yield sse.comment("still running")
                    continue
                if chunk.data:
                    yield _chunk_event(chunk)
        final = await runs_store.get(s.pool, app["id"], row["id"])
        ended = final if final is not None else row
        yield sse.event({"exitCode": ended["exit_code"], "outcome": ended["status"]}, name="exit")

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


@router.post("/apps/{ref}/runs/{run_id}/stdin", status_code=202)
async def run_stdin(
    ref: str, run_id: str, s: State, request: Request, eof: Annotated[int, Query(ge=0, le=1)] = 0
) -> dict[str, Any]:
    """Send the request's body (at most 64 KiB) to the run's stdin; ``eof=1`` closes it."""
    app, row = await _run(s, ref, run_id)
    if not row["stdin"]:
        raise Conflict(f"run {run_id} takes no stdin (start it with attach and stdin)")
    if row["status"] not in runs_store.UNFINISHED:
        raise Conflict(f"run {run_id} already ended ({row['status']})")
    data = await request.body()
    if len(data) > MAX_STDIN:
        raise PayloadTooLarge(f"stdin: at most {MAX_STDIN} bytes a request")
    seq = await run_relay.of(s.nc).send_input(str(app["id"]), str(row["id"]), data, eof=bool(eof))
    return {"seq": seq, "bytes": len(data), "eof": bool(eof)}
