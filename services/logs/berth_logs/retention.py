"""Retention: how long and how many lines each app keeps, enforced continuously.

Defaults: 7 days and 1,000,000 lines per app; per-app values live in the ``retention`` table
(NULL = default) and are set over ``berth.rpc.logs.retention.set`` (the API's
``PUT /api/apps/{id}/logs/retention``). Every :data:`INTERVAL` seconds each app's lines older
than its age limit, then its oldest lines beyond its line limit, are deleted in chunks of
:data:`CHUNK` rows so no statement holds locks for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from berth_shared.contracts.base import decode, utcnow
from berth_shared.contracts.logs import GetRetention, Retention, SetRetention
from berth_shared.db import Connection
from berth_shared.errors import NotFound, ValidationFailed

log = logging.getLogger("berth.logs.retention")

DEFAULT_MAX_AGE_DAYS = 7
DEFAULT_MAX_LINES = 1_000_000
MAX_AGE_DAYS_LIMIT = 3650
MAX_LINES_LIMIT = 100_000_000
INTERVAL = 30.0
CHUNK = 10_000


@dataclass(frozen=True)
class Trim:
    """What to delete for one app: lines with ts before ``older_than``, then all but the newest ``keep``."""

    app_id: str
    older_than: datetime
    keep: int


def effective(app_id: str, max_age_days: int | None, max_lines: int | None) -> Retention:
    return Retention(
        app_id=app_id,
        max_age_days=max_age_days or DEFAULT_MAX_AGE_DAYS,
        max_lines=max_lines or DEFAULT_MAX_LINES,
        custom_age=max_age_days is not None,
        custom_lines=max_lines is not None,
    )


def plan(settings: list[Retention], now: datetime) -> list[Trim]:
    """One trim per app, from its effective settings (pure)."""
    return [Trim(s.app_id, now - timedelta(days=s.max_age_days), s.max_lines) for s in settings]


def check(req: SetRetention) -> None:
    if req.max_age_days is not None and not 1 <= req.max_age_days <= MAX_AGE_DAYS_LIMIT:
        raise ValidationFailed.on("maxAgeDays", f"must be between 1 and {MAX_AGE_DAYS_LIMIT}")
    if req.max_lines is not None and not 1 <= req.max_lines <= MAX_LINES_LIMIT:
        raise ValidationFailed.on("maxLines", f"must be between 1 and {MAX_LINES_LIMIT}")


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


# The app's chunks of the search index (chunks.py) wholly older than its oldest line left. A chunk
# with some lines left stays whole (its words only say where to look), as does one emptied out
# of order (lines of an old timestamp that arrived late) until the lines before it go.
_EMPTIED_CHUNKS = """
DELETE FROM chunks WHERE app_id = $1
    AND last_id < coalesce((SELECT min(id) FROM lines WHERE app_id = $1), 9223372036854775807)
"""

# Up to $3 of an app's lines older than $2, and up to $3 of its oldest lines up to id $2. Both
# name the app: the key over ids is (app_id, id) (migration 7).
# Lines have no index over time: the lines older than $2 lie in the chunks that begin before it
# (a chunk's time span holds its lines'), so only ids up to the last of those are read.
DELETE_OLDER = (
    "DELETE FROM lines WHERE app_id = $1 AND id = ANY(ARRAY(SELECT id FROM lines WHERE app_id = $1 AND ts < $2 AND "
    "id <= (SELECT coalesce(max(last_id), 0) FROM chunks WHERE app_id = $1 AND first_ts < $2) ORDER BY id LIMIT $3))"
)
DELETE_UP_TO = (
    "DELETE FROM lines WHERE app_id = $1 AND id = ANY(ARRAY("
    "SELECT id FROM lines WHERE app_id = $1 AND id <= $2 ORDER BY id LIMIT $3))"
)

# At least as many as the app's lines: each lies in one of its chunks, between the chunk's first
# and last ids, and an app's chunks never overlap (chunks.py; retention leaves a chunk until its
# last line goes). One row per up to 256 lines is read instead of every line.
AT_MOST = "SELECT coalesce(sum(last_id - first_id + 1), 0) FROM chunks WHERE app_id = $1"


async def trim_app(conn: Connection, trim: Trim, chunk: int = CHUNK) -> int:
    """Apply one trim in chunks of rows, then delete the chunks of the search index it emptied;
    returns the lines deleted."""
    deleted = 0
    while True:
        n = _count(
            await conn.execute(
                DELETE_OLDER,
                trim.app_id,
                trim.older_than,
                chunk,
            )
        )
        deleted += n
        if n < chunk:
            break
    # The id of the newest line beyond the limit: everything up to it goes. Counting back reads
    # the app's newest ``keep`` lines, so it is skipped when its chunks say it has no more.
    cutoff = None
    if await conn.fetchval(AT_MOST, trim.app_id) > trim.keep:
        cutoff = await conn.fetchval(
            "SELECT id FROM lines WHERE app_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1", trim.app_id, trim.keep
        )
    while cutoff is not None:
        n = _count(
            await conn.execute(
                DELETE_UP_TO,
                trim.app_id,
                cutoff,
                chunk,
            )
        )
        deleted += n
        if n < chunk:
            break
    await conn.execute(_EMPTIED_CHUNKS, trim.app_id)
    return deleted


async def settings(conn: Connection) -> list[Retention]:
    rows = await conn.fetch("SELECT app_id, max_age_days, max_lines FROM retention ORDER BY app_id")
    return [effective(r["app_id"], r["max_age_days"], r["max_lines"]) for r in rows]


async def enforce(pool: asyncpg.Pool, now: datetime | None = None) -> int:
    """One pass over every app; returns the lines deleted."""
    async with pool.acquire() as conn:
        trims = plan(await settings(conn), now or utcnow())
    total = 0
    for trim in trims:
        async with pool.acquire() as conn:
            n = await trim_app(conn, trim)
        if n:
            log.info("retention deleted %d line(s) of app %s", n, trim.app_id, extra={"app_id": trim.app_id})
        total += n
    return total


async def run(pool: asyncpg.Pool, stop: asyncio.Event, interval: float = INTERVAL) -> None:
    while not stop.is_set():
        try:
            await enforce(pool)
        except Exception:
            log.exception("retention pass failed; retrying in %.0fs", interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


async def get(pool: Any, data: bytes) -> Retention:
    req = decode(data, GetRetention)
    row = await pool.fetchrow("SELECT max_age_days, max_lines FROM retention WHERE app_id = $1", req.app_id)
    if row is None:
        return effective(req.app_id, None, None)
    return effective(req.app_id, row["max_age_days"], row["max_lines"])


async def put(pool: Any, data: bytes) -> Retention:
    req = decode(data, SetRetention)
    check(req)
    if await pool.fetchval("SELECT 1 FROM deleted_apps WHERE app_id = $1", req.app_id):
        raise NotFound(f"app {req.app_id!r} was deleted")
    await pool.execute(
        "INSERT INTO retention (app_id, max_age_days, max_lines) VALUES ($1, $2, $3) "
        "ON CONFLICT (app_id) DO UPDATE SET max_age_days = $2, max_lines = $3, updated_at = now()",
        req.app_id,
        req.max_age_days,
        req.max_lines,
    )
    return effective(req.app_id, req.max_age_days, req.max_lines)
