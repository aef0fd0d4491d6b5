"""Building log queries and cutting pages: filters, tails, cursors, byte budgets, fields named in errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from berth_logs.query import build_query, escape_like, page_of
from berth_shared.contracts.logs import LogQuery
from berth_shared.errors import ValidationFailed


def test_like_wildcards_are_escaped() -> None:
    assert escape_like("100%_done\\") == "100\\%\\_done\\\\"


def test_a_query_names_only_the_filters_given_and_fetches_one_extra_row() -> None:
    sql = build_query(LogQuery(app_id="a1"))
    assert sql.text.endswith("WHERE l.app_id = $1 ORDER BY l.id ASC LIMIT $2")
    assert sql.args == ("a1", 201)

    sql = build_query(
        LogQuery(
            app_id="a1",
            since="2024-01-01T00:00:00Z",
            until="2024-01-02T00:00:00",
            stream="stderr",
            release_id="r9",
            process="worker",
            run_id="run-1",
            q="50%",
            after_id=42,
            limit=10,
        )
    )
    # Time bounds are also id bounds, through the chunks' time spans (lines have no index over time).
    assert (
        "l.ts >= $2 AND l.id >= (SELECT coalesce(min(first_id), 9223372036854775807) FROM chunks "
        "WHERE app_id = $1 AND last_ts >= $2) AND l.ts < $3 AND "
        "l.id <= (SELECT coalesce(max(last_id), 0) FROM chunks WHERE app_id = $1 AND first_ts < $3) AND "
    ) in sql.text
    # What a line's batch said is looked up once among the app's origins.
    origins = (
        "SELECT id FROM origins WHERE app_id = $1 AND stream = $4 AND release_id = $5 AND process = $6 AND run_id = $7"
    )
    assert f"l.origin = ANY(ARRAY({origins}))" in sql.text
    assert "l.message ILIKE '%' || $8 || '%' AND l.id > $9" in sql.text
    assert sql.args[1:] == (
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 2, tzinfo=UTC),  # naive means UTC
        "stderr",
        "r9",
        "worker",
        "run-1",
        "50\\%",
        42,
        11,
    )
    assert not sql.reverse


def test_a_tail_reads_newest_first_and_pages_backwards() -> None:
    sql = build_query(LogQuery(app_id="a1", tail=True, before_id=100, limit=5))
    assert "l.id < $2" in sql.text and "ORDER BY l.id DESC" in sql.text
    assert sql.reverse
    # A cursor wins over tail: paging forward from it.
    assert not build_query(LogQuery(app_id="a1", tail=True, after_id=7)).reverse


@pytest.mark.parametrize(
    ("kw", "field"),
    [({"limit": 0}, "limit"), ({"limit": 5001}, "limit"), ({"stream": "stdin"}, "stream"), ({"until": "x"}, "until")],
)
def test_invalid_queries_name_the_field(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        build_query(LogQuery(app_id="a1", **kw))
    assert err.value.details[0].field == field


def rows(ids: list[int], size: int = 1) -> list[dict[str, Any]]:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    return [
        {
            "id": i,
            "ts": at,
            "stream": "stdout",
            "release_id": "r",
            "process": "web",
            "run_id": "",
            "message": "x" * size,
        }
        for i in ids
    ]


def test_a_full_page_has_a_cursor_and_the_last_page_has_none() -> None:
    q = LogQuery(app_id="a", limit=3)
    full = page_of(rows([1, 2, 3, 4]), q, reverse=False)
    assert [i.id for i in full.items] == [1, 2, 3]
    assert full.next_cursor == 3
    last = page_of(rows([5, 6]), q, reverse=False)
    assert last.next_cursor is None
    assert last.items[0].timestamp == "2024-01-01T00:00:00.000000Z"


def test_a_tail_page_comes_out_ascending_with_a_cursor_to_older_lines() -> None:
    q = LogQuery(app_id="a", limit=2, tail=True)
    page = page_of(rows([9, 8, 7]), q, reverse=True)
    assert [i.id for i in page.items] == [8, 9]
    assert page.prev_cursor == 8
    assert page_of(rows([9]), q, reverse=True).prev_cursor is None


def test_a_page_stops_at_its_byte_budget_but_always_holds_one_line() -> None:
    q = LogQuery(app_id="a", limit=10)
    page = page_of(rows([1, 2, 3], size=1000), q, reverse=False, max_bytes=2500)
    assert [i.id for i in page.items] == [1, 2]
    assert page.next_cursor == 2
    huge = page_of(rows([1, 2], size=10_000), q, reverse=False, max_bytes=2500)
    assert [i.id for i in huge.items] == [1]
