"""Answering LogQuery: one parameterised SELECT per page, built by a pure function.

Pages are in ascending line id (arrival order; ids follow timestamps within a pull). ``after_id``
pages forward; ``tail`` returns the newest lines (optionally before ``before_id``), still
ascending. ``q`` is a case-insensitive substring (``ILIKE``, served by the trigram index), with
``%``, ``_`` and ``\\`` taken literally. A page also stops at :data:`MAX_PAGE_BYTES` of
messages so a reply always fits in one NATS message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from berth_shared.contracts.base import decode
from berth_shared.contracts.logs import LOG_STREAMS, LogItem, LogPage, LogQuery
from berth_shared.db import Connection
from berth_shared.errors import ValidationFailed
from berth_shared.probes import APP_STREAMS, PROBE_MARK

MAX_LIMIT = 5000
MAX_PAGE_BYTES = 4 * 1024 * 1024


def escape_like(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern (backslash is the escape character)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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


def build_query(q: LogQuery) -> Sql:
    """The SELECT for one page of ``q`` (fetches ``limit + 1`` rows to know if more follow)."""
    if not 1 <= q.limit <= MAX_LIMIT:
        raise ValidationFailed.on("limit", f"must be between 1 and {MAX_LIMIT}")
    if q.stream is not None and q.stream not in LOG_STREAMS:
        raise ValidationFailed.on("stream", f"must be one of {', '.join(LOG_STREAMS)}")
    args: list[Any] = [q.app_id]
    where = ["app_id = $1"]

    def add(condition: str, value: Any) -> None:
        args.append(value)
        where.append(condition.format(f"${len(args)}"))

    since, until = parse_time("since", q.since), parse_time("until", q.until)
    if since is not None:
        add("ts >= {}", since)
    if until is not None:
        add("ts < {}", until)
    if q.stream:
        add("stream = {}", q.stream)
    if q.release_id:
        add("release_id = {}", q.release_id)
    if q.q:
        add("message ILIKE '%' || {} || '%'", escape_like(q.q))
    if not q.include_probes:  # an app's own record of one of Berth's probes (berth_shared.probes)
        args.append(list(APP_STREAMS))
        add(f"NOT (stream = ANY(${len(args)}::text[]) AND strpos(message, {{}}) > 0)", PROBE_MARK)
    backwards = q.tail and q.after_id is None
    if q.after_id is not None:
        add("id > {}", q.after_id)
    if backwards and q.before_id is not None:
        add("id < {}", q.before_id)
    args.append(q.limit + 1)
    order = "DESC" if backwards else "ASC"
    text = (
        "SELECT id, ts, stream, release_id, message FROM lines "
        f"WHERE {' AND '.join(where)} ORDER BY id {order} LIMIT ${len(args)}"
    )
    return Sql(text, tuple(args), reverse=backwards)


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
        )
        for r in (reversed(taken) if reverse else taken)
    ]
    if reverse:
        return LogPage(items=items, prev_cursor=items[0].id if more and items else None)
    return LogPage(items=items, next_cursor=items[-1].id if more and items else None)


LAG_SQL = "SELECT count(*) FROM (SELECT 1 FROM lines WHERE app_id = $1 AND id > $2 LIMIT $3) behind"


async def run_query(conn: Connection, q: LogQuery) -> LogPage:
    sql = build_query(q)
    rows = await conn.fetch(sql.text, *sql.args)
    page = page_of(list(rows), q, sql.reverse)
    if q.lag_cap > 0:
        after = page.items[-1].id if page.items else (q.after_id or 0)
        page.lag = int(await conn.fetchval(LAG_SQL, q.app_id, after, q.lag_cap + 1))
    return page


async def answer(pool: Any, data: bytes) -> LogPage:
    q = decode(data, LogQuery)
    async with pool.acquire() as conn:
        return await run_query(conn, q)
