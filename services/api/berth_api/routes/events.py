"""GET /api/apps/{id}/events?follow=1: the app's life as Server-Sent Events, what the
dashboard's timeline and live status are fed from.

The API database is the truth the bus events were applied to, so the stream polls it (every
0.3 s) instead of subscribing to the bus: a reconnect can never miss what was applied. Events:

- ``app``: the app (as ``GET /api/apps/{id}``) whenever its status, live release or settings change;
- ``release``: a release (as in ``/releases``) whenever its status changes, the newest 20 first;
- ``step``: one lifecycle step of a release: ``{key, releaseId, version, step, slot, detail, durationMs, at}``;
- ``history``: one history entry (container started/exited, OOM kill, crash, health): ``{key, kind, ...}``.

On connect the stream sends the current state: the app, its recent releases, the steps of
its newest releases and its recent history. A comment is sent after 15 s of silence. Without
``follow`` this is the plain history, as before.

Resuming. Steps and history entries are stamped by their producer, so one can be applied (and
become visible here) a little after a newer one. Every ``step`` and ``history`` event's ``id``
is therefore a cursor ``<floor>/<newest>/<digests>``: the newest ``at`` sent so far, and a short
digest of the key of every entry sent whose ``at`` is at or after ``floor`` (``newest`` minus
the look-back window). Reconnecting with it in ``Last-Event-ID`` (or ``?since=``) sends exactly
what the client has not had: entries newer than ``newest``, and those from ``floor`` on that
are not in its digests (applied late); nothing it already received. A bare ISO time (``since``
or an old id) resends from the look-back window before it, as the plain resume always did."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from berth_api import apps_store, history_store, sse
from berth_api.deps import State, authorize
from berth_api.state import ApiState
from berth_api.views import app_view, event_view, release_view, step_view

router = APIRouter(prefix="/api", dependencies=[Depends(authorize)])

POLL_SECONDS = 0.3
HEARTBEAT_SECONDS = 15.0
# Entries are stamped by their producer, so one can be applied a little after a newer one:
# every poll looks back this far and skips what it already sent.
LOOKBACK = timedelta(seconds=60)
RECENT_RELEASES = 20
RECENT_STEP_RELEASES = 5
# A resume cursor names at most this many entries (~11 bytes each, well within a header's limit).
CURSOR_KEYS = 500


def _ts(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def digest(key: str) -> str:
    """A short name for an entry's key in a resume cursor."""
    return hashlib.blake2b(key.encode(), digest_size=5).hexdigest()


@dataclass(frozen=True)
class Resume:
    """Where a client left off: everything up to ``newest`` that is older than ``floor`` or
    whose key's digest is in ``seen`` was received. ``seen`` is None for a bare time (the
    client only says when; it deduplicates what is resent)."""

    newest: datetime
    floor: datetime
    seen: frozenset[str] | None = None

    def received(self, key: str, at: datetime) -> bool:
        if self.seen is None or at > self.newest:
            return False
        return at < self.floor or digest(key) in self.seen


def parse_resume(value: str | None) -> Resume | None:
    """A cursor (``<floor>/<newest>/<digest>.<digest>...``) or a bare ISO time; None if neither."""
    if not value or not value.strip():
        return None
    parts = value.strip().split("/")
    if len(parts) == 3:
        floor, newest = _parse_time(parts[0]), _parse_time(parts[1])
        if floor is None or newest is None or floor > newest:
            return None
        return Resume(newest, floor, frozenset(d for d in parts[2].split(".") if d))
    at = _parse_time(value)
    return Resume(at, at - LOOKBACK) if at else None


def step_event(row: Any) -> dict[str, Any]:
    return {"key": row["event_id"], "releaseId": str(row["release_id"]), "version": row["version"], **step_view(row)}


def history_event(row: Any) -> dict[str, Any]:
    return {"key": row["event_id"], **event_view(row)}


def release_fingerprint(view: dict[str, Any]) -> tuple[Any, ...]:
    return (view["status"], view["reason"], view["imageDigest"], view["liveAt"], view["finishedAt"], view["slot"])


class SentTracker:
    """What a stream has sent, so every poll sends only what changed."""

    def __init__(self, resume: Resume | None) -> None:
        self.resume = resume
        self.newest: datetime | None = resume.newest if resume else None
        self.sent_keys: dict[str, datetime] = {}
        self.app_fp: str | None = None
        self.releases: dict[str, tuple[Any, ...]] = {}

    def fresh(self, key: str, at: datetime) -> bool:
        """Whether the entry is to be sent now (it is counted as sent either way)."""
        if key in self.sent_keys:
            return False
        self.sent_keys[key] = at
        if self.resume is not None and self.resume.received(key, at):
            return False  # the client had it before it reconnected
        if self.newest is None or at > self.newest:
            self.newest = at
        return True

    def forget_older_than(self, cutoff: datetime) -> None:
        for key in [k for k, at in self.sent_keys.items() if at < cutoff]:
            del self.sent_keys[key]

    def event_id(self) -> str | None:
        """The resume cursor: the newest ``at`` sent and the digests of the entries sent from
        the look-back window before it (the newest ``CURSOR_KEYS`` of them)."""
        if self.newest is None:
            return None
        floor = self.newest - LOOKBACK
        recent = sorted((at, key) for key, at in self.sent_keys.items() if at >= floor)[-CURSOR_KEYS:]
        if len(recent) == CURSOR_KEYS:
            floor = recent[0][0]
        return f"{_ts(floor)}/{_ts(self.newest)}/{'.'.join(digest(key) for _, key in recent)}"


async def changes(s: ApiState, app_id: Any, t: SentTracker, first: bool) -> list[str]:
    """The events due since the last poll."""
    out: list[str] = []
    app = await s.pool.fetchrow("SELECT * FROM apps WHERE id = $1", app_id)
    if app is None:
        return [sse.event({"deleted": True}, name="gone")]
    current = await apps_store.current_release(s.pool, app)
    view = app_view(app, s.settings.domain, s.settings.http_port, current)
    fp = json.dumps(view, sort_keys=True)
    if fp != t.app_fp:
        t.app_fp = fp
        out.append(sse.event(view, name="app"))
    releases = await s.pool.fetch(
        "SELECT * FROM releases WHERE app_id = $1 ORDER BY version DESC LIMIT $2", app_id, RECENT_RELEASES
    )
    for row in releases:
        rv = release_view(row)
        rfp = release_fingerprint(rv)
        if t.releases.get(rv["id"]) != rfp:
            t.releases[rv["id"]] = rfp
            out.append(sse.event(rv, name="release"))
    if first and t.resume is None:
        step_rows = await s.pool.fetch(
            "SELECT st.*, r.version FROM release_steps st JOIN releases r ON r.id = st.release_id "
            "WHERE r.app_id = $1 "
            "AND r.version > (SELECT coalesce(max(version), 0) FROM releases WHERE app_id = $1) - $2 "
            "ORDER BY st.at",
            app_id,
            RECENT_STEP_RELEASES,
        )
        history_rows = await history_store.recent(s.pool, app_id, 200)
    else:
        floor = (t.newest or datetime.now().astimezone()) - LOOKBACK
        t.forget_older_than(floor - LOOKBACK)
        step_rows = await s.pool.fetch(
            "SELECT st.*, r.version FROM release_steps st JOIN releases r ON r.id = st.release_id "
            "WHERE r.app_id = $1 AND st.at >= $2 ORDER BY st.at",
            app_id,
            floor,
        )
        history_rows = await s.pool.fetch(
            "SELECT * FROM app_events WHERE app_id = $1 AND at >= $2 ORDER BY at", app_id, floor
        )
    for row in step_rows:
        if t.fresh(row["event_id"], row["at"]):
            out.append(_with_id(sse.event(step_event(row), name="step"), t))
    for row in history_rows:
        if t.fresh(row["event_id"], row["at"]):
            out.append(_with_id(sse.event(history_event(row), name="history"), t))
    return out


def _with_id(text: str, t: SentTracker) -> str:
    eid = t.event_id()
    return f"id: {eid}\n{text}" if eid else text


async def stream(
    s: ApiState,
    app_id: Any,
    *,
    resume: Resume | None,
    disconnected: Callable[[], Awaitable[bool]],
    poll: float = POLL_SECONDS,
    heartbeat: float = HEARTBEAT_SECONDS,
) -> AsyncIterator[str]:
    t = SentTracker(resume)
    yield sse.comment("berth app events")
    first = True
    last_sent = time.monotonic()
    while not await disconnected():
        try:
            out = await changes(s, app_id, t, first)
        except Exception as exc:  # the database restarting: keep the stream open
            yield sse.comment(f"events unavailable, retrying: {type(exc).__name__}")
            await asyncio.sleep(poll * 3)
            continue
        first = False
        for text in out:
            yield text
        if out:
            last_sent = time.monotonic()
            if any(text.startswith("event: gone") for text in out):
                return
        elif time.monotonic() - last_sent >= heartbeat:
            yield sse.comment("keep-alive")
            last_sent = time.monotonic()
        await asyncio.sleep(poll)


@router.get("/apps/{ref}/events", response_model=None)
async def app_events(
    ref: str,
    *,
    request: Request,
    s: State,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
    follow: bool = False,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    since: Annotated[str | None, Query()] = None,
) -> dict[str, Any] | StreamingResponse:
    """The app's history (container starts, exits with exit codes, OOM kills, crashes, health,
    domains), oldest first; ``follow=1``: its releases, lifecycle steps and history, live (SSE)."""
    app = await apps_store.find_app(s.pool, ref)
    if not follow:
        return {"items": [event_view(r) for r in await history_store.recent(s.pool, app["id"], limit)]}
    resume = parse_resume(last_event_id) or parse_resume(since)
    return StreamingResponse(
        stream(s, app["id"], resume=resume, disconnected=request.is_disconnected),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
