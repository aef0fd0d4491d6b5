"""Answering LogQuery: one parameterised SELECT per page, built by a pure function.

Pages are in ascending line id (arrival order; an app's ids follow timestamps within a pull).
``after_id`` pages forward; ``tail`` returns the newest lines (optionally before ``before_id``),
still ascending. ``q`` is a case-insensitive substring (``ILIKE``), with ``%``, ``_`` and ``\\``
taken literally; when it has a word character the search index's chunks say where to look
(``search.py``), else the app's lines are scanned. A page also stops at :data:`MAX_PAGE_BYTES`
of messages so a reply always fits in one NATS message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from berth_shared.contracts.base import decode
from berth_shared.contracts.logs import LOG_STREAMS, LogItem, LogPage, LogQuery
from berth_shared.db import Connection
from berth_shared.errors import ValidationFailed
from berth_shared.probes import APP_STREAMS, PROBE_MARK

from berth_logs import search
from berth_logs.words import chunk_patterns, escape_like

MAX_LIMIT = 5000
MAX_PAGE_BYTES = 4 * 1024 * 1024


def parse_time(field: str, value: str | None) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed.on(field, f"must be an ISO 8601 timestamp, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Sql:
    text: str
    args: tuple[Any, ...]
    reverse: bool  # rows come newest first and must be reversed


# Past every line id (bigint's largest).
NO_ID = 9223372036854775807

# A line's own columns (``l``) and those of its origin (``o``: what its batch's lines share).
COLUMNS = "l.id, l.ts, o.stream, o.release_id, o.process, o.run_id, l.message"


def build_query(q: LogQuery) -> Sql:
    """The SELECT for one page of ``q`` (fetches ``limit + 1`` rows to know if more follow)."""
    where, args, order = _conditions(q, [])
    args.append(q.limit + 1)
    text = (
        f"SELECT {COLUMNS} FROM lines l JOIN origins o ON o.id = l.origin WHERE {where} "
        f"ORDER BY l.id {order} LIMIT ${len(args)}"
    )
    return Sql(text, tuple(args), reverse=order == "DESC")


def build_ranged(q: LogQuery, ranges: Sequence[tuple[int, int]], want: int) -> Sql:
    """The same SELECT over the lines whose ids lie in ``ranges`` (inclusive, in the page's
    order), ``want`` rows: one index range scan per range, each stopping at ``want`` rows."""
    where, args, order = _conditions(q, [[lo for lo, _ in ranges], [hi for _, hi in ranges]])
    args.append(want)
    text = (
        f"SELECT {COLUMNS} FROM unnest($2::bigint[], $3::bigint[]) AS r(lo, hi) CROSS JOIN LATERAL "
        f"(SELECT l.id, l.ts, l.origin, l.message FROM lines l WHERE {where} AND l.id BETWEEN r.lo AND r.hi "
        f"ORDER BY l.id {order} LIMIT ${len(args)}) l JOIN origins o ON o.id = l.origin "
        f"ORDER BY l.id {order} LIMIT ${len(args)}"
    )
    return Sql(text, tuple(args), reverse=order == "DESC")


def _conditions(q: LogQuery, source_args: list[Any]) -> tuple[str, list[Any], str]:
    """The WHERE of one page of ``q`` over ``lines l``, its arguments (after ``$1`` = app and
    ``source_args``) and the order of ids ("ASC", or "DESC" for a tail). Conditions on what a
    line's batch said (stream, release, process, run) pick the app's origins once (an init
    plan), then each line is kept by its origin's id."""
    if not 1 <= q.limit <= MAX_LIMIT:
        raise ValidationFailed.on("limit", f"must be between 1 and {MAX_LIMIT}")
    if q.stream is not None and q.stream not in LOG_STREAMS:
        raise ValidationFailed.on("stream", f"must be one of {', '.join(LOG_STREAMS)}")
    args: list[Any] = [q.app_id, *source_args]
    where = ["l.app_id = $1"]
    origin: list[str] = []  # conditions on the app's origins

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    def add(condition: str, value: Any) -> None:
        where.append(condition.format(arg(value)))

    since, until = parse_time("since", q.since), parse_time("until", q.until)
    # Every line lies in a chunk of its app (chunks.py) whose id and time spans hold its own, so
    # the chunks' time spans bound the ids to read (lines has no index over time: migration 7).
    if since is not None:
        at = arg(since)
        where.append(f"l.ts >= {at}")
        where.append(
            f"l.id >= (SELECT coalesce(min(first_id), {NO_ID}) FROM chunks WHERE app_id = $1 AND last_ts >= {at})"
        )
    if until is not None:
        at = arg(until)
        where.append(f"l.ts < {at}")
        where.append(f"l.id <= (SELECT coalesce(max(last_id), 0) FROM chunks WHERE app_id = $1 AND first_ts < {at})")
    if q.stream:
        origin.append(f"stream = {arg(q.stream)}")
    if q.release_id:
        origin.append(f"release_id = {arg(q.release_id)}")
    if q.process:
        origin.append(f"process = {arg(q.process)}")
    if q.run_id:
        origin.append(f"run_id = {arg(q.run_id)}")
    if origin:
        chosen = f"FROM origins WHERE app_id = $1 AND {' AND '.join(origin)}"
        where.append(f"l.origin = ANY(ARRAY(SELECT id {chosen}))")
        # Only between the chosen origins' first and last lines (none: an empty span).
        where.append(
            f"l.id BETWEEN (SELECT coalesce(min(first_id), 0) {chosen}) AND (SELECT coalesce(max(last_id), 0) {chosen})"
        )
    if q.q:
        add("l.message ILIKE '%' || {} || '%'", escape_like(q.q))
    if not q.include_probes:  # an app's own record of one of Berth's probes (berth_shared.probes)
        streams = arg(list(APP_STREAMS))
        add(
            f"NOT (l.origin = ANY(ARRAY(SELECT id FROM origins WHERE app_id = $1 AND stream = ANY({streams}::text[]))) "
            "AND strpos(l.message, {}) > 0)",
            PROBE_MARK,
        )
    newest_first = search.backwards(q)
    if q.after_id is not None:
        add("l.id > {}", q.after_id)
    if newest_first and q.before_id is not None:
        add("l.id < {}", q.before_id)
    return " AND ".join(where), args, "DESC" if newest_first else "ASC"


def format_ts(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def page_of(rows: list[Any], q: LogQuery, reverse: bool, max_bytes: int = MAX_PAGE_BYTES) -> LogPage:
    """Cut the rows (``limit + 1`` at most, in query order) into a page with its cursors."""
    more = len(rows) > q.limit
    taken: list[Any] = []
    size = 0
    for row in rows[: q.limit]:
        size += len(row["message"]) + 100
        if taken and size > max_bytes:
            more = True
            break
        taken.append(row)
    items = [
        LogItem(
            id=r["id"],
            timestamp=format_ts(r["ts"]),
            stream=r["stream"],
            release_id=r["release_id"],
            message=r["message"],
            process=r["process"],
            run_id=r["run_id"],
        )
        for r in (reversed(taken) if reverse else taken)
    ]
    if reverse:
        return LogPage(items=items, prev_cursor=items[0].id if more and items else None)
    return LogPage(items=items, next_cursor=items[-1].id if more and items else None)


LAG_SQL = "SELECT count(*) FROM (SELECT 1 FROM lines WHERE app_id = $1 AND id > $2 LIMIT $3) behind"


async def run_query(conn: Connection, q: LogQuery) -> LogPage:
    sql = build_query(q)  # checks q
    patterns = chunk_patterns(q.q) if q.q else []
    rows = await _search(conn, q, patterns) if patterns else list(await conn.fetch(sql.text, *sql.args))
    page = page_of(rows, q, sql.reverse)
    if q.lag_cap > 0:
        after = page.items[-1].id if page.items else (q.after_id or 0)
        page.lag = int(await conn.fetchval(LAG_SQL, q.app_id, after, q.lag_cap + 1))
    return page


async def _search(conn: Connection, q: LogQuery, patterns: list[str]) -> list[Any]:
    """The page's rows (``limit + 1`` at most, in query order) through the chunks that may hold
    them: the walk's first, then the trigram index's beyond it (``search.py``)."""
    want = q.limit + 1
    since, until = parse_time("since", q.since), parse_time("until", q.until)
    text, args = search.walk_sql(q, patterns, since, until)
    walked = await conn.fetch(text, *args)
    rows = await _rows_in(conn, q, [(c["first_id"], c["last_id"]) for c in walked if c["hit"]], want)
    if len(rows) >= want or len(walked) < search.WALK:
        return rows[:want]
    beyond = walked[-1]["first_id"] if search.backwards(q) else walked[-1]["last_id"]
    text, args = search.rest_sql(q, patterns, since, until, beyond)
    rest = await conn.fetch(text, *args)
    return rows + await _rows_in(conn, q, [(c["first_id"], c["last_id"]) for c in rest], want - len(rows))


async def _rows_in(conn: Connection, q: LogQuery, chunks: list[tuple[int, int]], want: int) -> list[Any]:
    """Up to ``want`` rows of the page from the chunks' lines, in the page's order."""
    rows: list[Any] = []
    for ranges in search.batches(search.ranges_in_order(chunks, search.backwards(q))):
        sql = build_ranged(q, ranges, want - len(rows))
        rows += await conn.fetch(sql.text, *sql.args)
        if len(rows) >= want:
            break
    return rows


async def answer(pool: Any, data: bytes) -> LogPage:
    q = decode(data, LogQuery)
    async with pool.acquire() as conn:
        return await run_query(conn, q)
