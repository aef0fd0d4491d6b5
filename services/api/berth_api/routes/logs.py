"""/api/apps/{id}/logs (search, paging, live tail over SSE), per-app log retention, and
/api/platform/logs (Berth's own processes). App lines are read from the logs service over
``berth.rpc.logs.*``; the query parameters are validated here, once."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from berth_shared.contracts.logs import (
    LOGS_QUERY,
    LOGS_RETENTION_GET,
    LOGS_RETENTION_SET,
    LOGS_STATS,
    GetLogStats,
    GetRetention,
    LogPage,
    LogQuery,
    LogStats,
    Retention,
    SetRetention,
)
from berth_shared.errors import NotFound, ValidationFailed
from berth_shared.log_budget import log_budget
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import Field

from berth_api import apps_store, log_files, rpc, sse
from berth_api.deps import State, authorize
from berth_api.validation import Body

router = APIRouter(prefix="/api", dependencies=[Depends(authorize)])

RELATIVE = re.compile(r"^(\d{1,9})([smhd])$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
MAX_Q = 256
# since/until: empty, a duration back from now, or an RFC 3339 time (ISO 8601 works too).
WHEN: dict[str, Any] = {
    "anyOf": [{"type": "string", "pattern": "^([0-9]{1,9}[smhd])?$"}, {"type": "string", "format": "date-time"}]
}


def parse_when(field: str, value: str | None, now: datetime) -> str | None:
    """``since``/``until``: an ISO 8601 timestamp (UTC unless it says otherwise) or a duration
    back from now such as ``30s``, ``15m``, ``2h``, ``7d``. Returned as ISO 8601 UTC."""
    if value is None or value.strip() == "":
        return None
    value = value.strip()
    if m := RELATIVE.match(value):
        try:
            return (now - timedelta(**{UNITS[m.group(2)]: int(m.group(1))})).isoformat()
        except OverflowError:  # further back than year 1: everything
            return datetime.min.replace(tzinfo=UTC).isoformat()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed.on(
            field, f"must be an ISO 8601 timestamp or a duration like 15m, 2h, 7d; got {value!r}"
        ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


Q_SCHEMA = {"maxLength": MAX_Q, "pattern": "^[^\\u0000]*$"}  # Postgres text holds no NUL


def check_q(q: str | None) -> str | None:
    if q is None or q == "":
        return None
    if len(q) > MAX_Q:
        raise ValidationFailed.on("q", f"must be at most {MAX_Q} characters")
    if "\x00" in q:
        raise ValidationFailed.on("q", "must not contain a NUL character")
    return q


# ?process= and ?run=: empty means no filter (as the schema states).
PROCESS_FILTER = re.compile(r"^(?:[a-z][a-z0-9-]{0,29})?$")
RUN_FILTER = re.compile(r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$")


def check_filter(field: str, value: str | None, pattern: re.Pattern[str], what: str) -> str | None:
    """A ``process``/``run`` filter as sent (None when absent or empty); 422 naming ``field``."""
    if not value:
        return None
    if not pattern.fullmatch(value):
        raise ValidationFailed.on(field, f"must be {what}")
    return value.lower() if field == "run" else value


async def release_filter(s: Any, app_id: uuid.UUID, release: str | None) -> str | None:
    """``release``: a release id, or a version number (``3`` or ``v3``) of this app."""
    if not release:
        return None
    if m := re.fullmatch(r"v?(\d{1,9})", release.strip()):
        rid = await s.pool.fetchval(
            "SELECT id FROM releases WHERE app_id = $1 AND version = $2", app_id, int(m.group(1))
        )
        if rid is None:
            raise NotFound(f"release {release!r} not found")
        return str(rid)
    return release.strip()


@router.get("/apps/{ref}/logs", response_model=None)
async def app_logs(
    ref: str,
    *,
    request: Request,
    s: State,
    since: Annotated[str | None, Query(json_schema_extra=WHEN)] = None,
    until: Annotated[str | None, Query(json_schema_extra=WHEN)] = None,
    stream: Literal["stdout", "stderr", "proxy"] | None = None,
    release: str | None = None,
    process: Annotated[str | None, Query(json_schema_extra={"pattern": PROCESS_FILTER.pattern})] = None,
    run: Annotated[str | None, Query(json_schema_extra={"pattern": RUN_FILTER.pattern})] = None,
    q: Annotated[str | None, Query(json_schema_extra=Q_SCHEMA)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
    cursor: Annotated[int | None, Query(ge=0)] = None,
    before: Annotated[int | None, Query(ge=1)] = None,
    follow: bool = False,
    probes: bool = False,
    last_event_id: Annotated[str, Header(alias="Last-Event-ID", pattern="^[0-9]{0,18}$")] = "",
) -> dict[str, Any] | StreamingResponse:
    """Without ``since``/``cursor``: the newest ``limit`` lines (``prevCursor`` pages back with
    ``before``). With them: lines from there on, oldest first (``nextCursor`` pages forward).
    ``follow=1``: Server-Sent Events, the recent lines then new ones, resumable with Last-Event-ID.
    The app's records of Berth's own probes are left out unless ``probes=true``. ``process``:
    only one process type's lines (``web``, ``worker``, ``release``, ``cron``, ``run``); ``run``:
    only one run's (ADR 0026)."""
    now = datetime.now(UTC)
    base = LogQuery(
        app_id="",
        since=parse_when("since", since, now),
        until=parse_when("until", until, now),
        stream=stream,
        q=check_q(q),
        limit=limit,
        include_probes=probes,
        process=check_filter("process", process, PROCESS_FILTER, "a process name such as web or worker"),
        run_id=check_filter("run", run, RUN_FILTER, "a run id"),
    )
    try:
        resume = sse.parse_last_event_id(last_event_id)
    except ValueError:
        raise ValidationFailed.on("Last-Event-ID", "must be a log line id") from None
    app = await apps_store.find_app(s.pool, ref)
    base.app_id = str(app["id"])
    base.release_id = await release_filter(s, app["id"], release)
    nc = s.nc

    async def fetch(query: LogQuery) -> LogPage:
        page: LogPage = await rpc.ask(nc, LOGS_QUERY, query, LogPage, service=rpc.LOGS)
        return page

    if follow:
        after = resume if resume is not None else cursor
        if after is None:
            await fetch(LogQuery(app_id=base.app_id, limit=1, tail=True))  # 503 now, not mid-stream
        events = sse.follow(fetch, base, after_id=after, disconnected=request.is_disconnected, recent=limit)
        return StreamingResponse(
            events,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    base.after_id = cursor
    base.tail = cursor is None and base.since is None
    base.before_id = before
    page = await fetch(base)
    return {
        "items": [sse.item_view(i) for i in page.items],
        "nextCursor": page.next_cursor,
        "prevCursor": page.prev_cursor,
    }


class RetentionIn(Body):
    max_age_days: Annotated[int | None, Field(alias="maxAgeDays", ge=1, le=3650)] = None
    max_lines: Annotated[int | None, Field(alias="maxLines", ge=1, le=100_000_000)] = None


def retention_view(r: Retention) -> dict[str, Any]:
    return {
        "maxAgeDays": r.max_age_days,
        "maxLines": r.max_lines,
        "defaults": {"maxAgeDays": not r.custom_age, "maxLines": not r.custom_lines},
    }


@router.get("/apps/{ref}/logs/retention")
async def get_retention(ref: str, s: State) -> dict[str, Any]:
    app = await apps_store.find_app(s.pool, ref)
    return retention_view(
        await rpc.ask(s.nc, LOGS_RETENTION_GET, GetRetention(app_id=str(app["id"])), Retention, service=rpc.LOGS)
    )


@router.put("/apps/{ref}/logs/retention")
async def put_retention(ref: str, body: RetentionIn, s: State) -> dict[str, Any]:
    """Both values replace the current ones; an omitted (or null) value means the default."""
    app = await apps_store.find_app(s.pool, ref)
    request = SetRetention(app_id=str(app["id"]), max_age_days=body.max_age_days, max_lines=body.max_lines)
    return retention_view(await rpc.ask(s.nc, LOGS_RETENTION_SET, request, Retention, service=rpc.LOGS))


@router.get("/apps/{ref}/logs/stats")
async def log_stats(ref: str, s: State) -> dict[str, Any]:
    """The app's log counters since it was created: lines stored, lines dropped because it wrote
    faster than its budget (each drop is also a ``berth: dropped N lines`` line in its logs), and
    gaps lost to the engine's log rotation; with the budget in force."""
    app = await apps_store.find_app(s.pool, ref)
    counters: LogStats = await rpc.ask(s.nc, LOGS_STATS, GetLogStats(app_id=str(app["id"])), LogStats, service=rpc.LOGS)
    budget = log_budget()
    return {
        "storedLines": counters.stored_lines,
        "droppedLines": counters.dropped_lines,
        "lostGaps": counters.lost_gaps,
        "budget": {"linesPerSecond": budget.lines_per_second, "burstLines": budget.burst},
    }


@router.get("/platform/logs")
async def platform_logs(
    *,
    s: State,
    service: Annotated[str | None, Query(json_schema_extra={"enum": list(log_files.PROCESSES)})] = None,
    q: Annotated[str | None, Query(json_schema_extra=Q_SCHEMA)] = None,
    app_ref: Annotated[str | None, Query(alias="appId")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> dict[str, Any]:
    """Berth's own logs (JSON lines), newest ``limit`` matching lines oldest first; ``service``
    is one process (default: every Berth service merged by time)."""
    if service is not None and service not in log_files.PROCESSES:
        raise ValidationFailed.on("service", f"must be one of {', '.join(log_files.PROCESSES)}")
    app_id: str | None = None
    if app_ref:
        try:
            app_id = str(uuid.UUID(app_ref))  # also the id of a deleted app
        except ValueError:
            app_id = str((await apps_store.find_app(s.pool, app_ref))["id"])
    processes = (service,) if service else log_files.SERVICES
    items = await asyncio.to_thread(
        log_files.read, s.settings.home / "logs", processes, limit=limit, q=check_q(q), app_id=app_id
    )
    return {"items": items}
