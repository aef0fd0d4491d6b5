"""Helpers of the logs tests that store rows through the service's insert and compare pages:
a page through the search index must be the page a scan of the app's lines gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
from berth_logs import ingest, query
from berth_shared.contracts.logs import LogQuery

T0 = datetime(2031, 3, 1, tzinfo=UTC)

Lines = list[tuple[int, str]]


def rows_of_app(app_id: str, messages: list[str], first: int = 0, stream: str = "stdout") -> list[ingest.Row]:
    """One row per message, ``first`` ms after :data:`T0` and a millisecond apart."""
    rows = []
    container = f"{app_id}-{stream}"
    for i, message in enumerate(messages, start=first):
        at = T0 + timedelta(milliseconds=i)
        rows.append(
            ingest.Row(
                app_id=app_id,
                release_id="r1",
                slot="a",
                container_id=container,
                stream=stream,
                ts=at,
                ts_raw=f"{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond * 1000:09d}Z",
                seq=0,
                message=message,
                order=(at, 0, container, 0),
            )
        )
    return rows


async def scanned(pool: asyncpg.Pool, q: LogQuery) -> Lines:
    """The page as one query over the app's lines gives it (no index)."""
    sql = query.build_query(q)
    page = query.page_of(list(await pool.fetch(sql.text, *sql.args)), q, sql.reverse)
    return [(i.id, i.message) for i in page.items]


async def searched(pool: asyncpg.Pool, q: LogQuery) -> tuple[Lines, int | None, int | None]:
    """The page as the service answers it, with its next and previous cursors."""
    async with pool.acquire() as conn:
        page = await query.run_query(conn, q)
    return [(i.id, i.message) for i in page.items], page.next_cursor, page.prev_cursor
