"""Which chunks of the search index (``chunks.py``) may hold a page's matches, in the page's order.

A search (``q`` with at least one word character) reads chunks before lines. First it walks the
:data:`WALK` chunks nearest the page's start in id order (newest first for a tail, oldest first
after a cursor) and compares their words: a common string fills the page from them alone. When
it does not, the trigram index finds the matching chunks beyond them. The page's lines are
then read from the chunks' id ranges, a few ranges at a time (:func:`batches`), with the same
conditions as a page without the index, so the results are the same lines in the same order.
Chunks of an app never overlap, so chunk order is id order.

These functions only build SQL and order ranges; ``query.run_query`` runs them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from berth_shared.contracts.logs import LogQuery

WALK = 64
FIRST_BATCH = 8
BATCH_GROWTH = 4


def backwards(q: LogQuery) -> bool:
    """Does the page read newest first (a tail without a cursor)?"""
    return q.tail and q.after_id is None


def _bounds(q: LogQuery, since: datetime | None, until: datetime | None) -> tuple[list[str], list[Any]]:
    """Conditions on a chunk (and their arguments, after ``$1`` = app) that any chunk holding a
    line of the page meets: its last line after the cursor, its first before ``before_id``, and
    its time span overlapping ``since``/``until``."""
    where = ["app_id = $1"]
    args: list[Any] = [q.app_id]

    def add(condition: str, value: Any) -> None:
        args.append(value)
        where.append(condition.format(f"${len(args)}"))

    if q.after_id is not None:
        add("last_id > {}", q.after_id)
    if backwards(q) and q.before_id is not None:
        add("first_id < {}", q.before_id)
    if since is not None:
        add("last_ts >= {}", since)
    if until is not None:
        add("first_ts < {}", until)
    return where, args


def _matches(patterns: Sequence[str], args: list[Any]) -> str:
    conditions = []
    for pattern in patterns:
        args.append(pattern)
        conditions.append(f"words LIKE lower(${len(args)})")
    return " AND ".join(conditions)


def walk_sql(
    q: LogQuery, patterns: Sequence[str], since: datetime | None, until: datetime | None
) -> tuple[str, list[Any]]:
    """The first :data:`WALK` chunks of the page in its order, each with ``hit``: its words
    match every pattern."""
    where, args = _bounds(q, since, until)
    hit = _matches(patterns, args)
    order = "first_id DESC" if backwards(q) else "last_id ASC"
    args.append(WALK)
    text = (
        f"SELECT first_id, last_id, {hit} AS hit FROM chunks WHERE {' AND '.join(where)} "
        f"ORDER BY {order} LIMIT ${len(args)}"
    )
    return text, args


def rest_sql(
    q: LogQuery, patterns: Sequence[str], since: datetime | None, until: datetime | None, beyond: int
) -> tuple[str, list[Any]]:
    """The matching chunks past the walk (``beyond``: the last walked chunk's first id for a
    tail, its last id otherwise), found through the trigram index."""
    where, args = _bounds(q, since, until)
    args.append(beyond)
    where.append(f"first_id < ${len(args)}" if backwards(q) else f"last_id > ${len(args)}")
    where.append(_matches(patterns, args))
    return f"SELECT first_id, last_id FROM chunks WHERE {' AND '.join(where)}", args


def ranges_in_order(chunks: Sequence[tuple[int, int]], newest_first: bool) -> list[tuple[int, int]]:
    """The chunks' id ranges, those that touch or overlap merged, in the page's order."""
    merged: list[list[int]] = []
    for first, last in sorted(chunks):
        if merged and first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    ranges = [(first, last) for first, last in merged]
    return ranges[::-1] if newest_first else ranges


def batches(ranges: Sequence[tuple[int, int]]) -> Iterator[Sequence[tuple[int, int]]]:
    """``ranges`` in consecutive groups of :data:`FIRST_BATCH`, then :data:`BATCH_GROWTH` times
    more each time: a page that fills early reads few lines, one that does not, few queries."""
    start, size = 0, FIRST_BATCH
    while start < len(ranges):
        yield ranges[start : start + size]
        start += size
        size *= BATCH_GROWTH
