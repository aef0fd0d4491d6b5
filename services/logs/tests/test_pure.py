"""The pure parts of the logs service: timestamps, line order, query building, cursors, retention plans."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from berth_logs import retention
from berth_logs.ingest import BULK, BULK_PATIENCE, PROMPT, check_batch, choose, clean_message, parse_docker_ts, rows_of
from berth_logs.query import build_query, escape_like, page_of
from berth_shared.contracts.logs import LogBatch, LogLine, LogQuery, SetRetention
from berth_shared.errors import ValidationFailed


def test_docker_timestamps_parse_to_the_microsecond_and_keep_nanoseconds_for_order() -> None:
    ts, nanos = parse_docker_ts("2024-03-01T10:20:30.123456789Z") or (None, 0)
    assert ts == datetime(2024, 3, 1, 10, 20, 30, 123456, tzinfo=UTC)
    assert nanos == 123456789
    # Docker trims trailing zeros: ".5" is half a second.
    half = datetime(2024, 3, 1, 10, 20, 30, 500000, tzinfo=UTC)
    assert parse_docker_ts("2024-03-01T10:20:30.5Z") == (half, 5 * 10**8)
    assert parse_docker_ts("2024-03-01T12:20:30+02:00") == (datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC), 0)
    assert parse_docker_ts("yesterday") is None
    assert parse_docker_ts("2024-13-01T10:20:30Z") is None


def test_nul_characters_become_replacement_characters() -> None:
    assert clean_message("a\x00b") == "a\ufffdb"


def lines_batch(container: str, stream: str, stamps: list[str], app: str = "app1") -> LogBatch:
    return LogBatch(
        app_id=app,
        release_id="r1",
        slot="a",
        container_id=container,
        stream=stream,
        lines=[LogLine(ts=t, message=f"{container}/{t}") for t in stamps],
    )


def test_lines_of_a_pull_are_stored_in_timestamp_order_even_when_the_text_sorts_differently() -> None:
    out = lines_batch("c1", "stdout", ["2024-01-01T00:00:00.12Z", "2024-01-01T00:00:00.2Z"])
    err = lines_batch("c1", "stderr", ["2024-01-01T00:00:00.1Z", "2024-01-01T00:00:00.15Z"])
    assert [r.ts_raw for r in rows_of([out, err])] == [
        "2024-01-01T00:00:00.1Z",
        "2024-01-01T00:00:00.12Z",
        "2024-01-01T00:00:00.15Z",
        "2024-01-01T00:00:00.2Z",
    ]


def test_a_line_with_an_unreadable_timestamp_is_kept_at_the_batch_time() -> None:
    b = lines_batch("c1", "stdout", ["garbage"])
    (row,) = rows_of([b])
    assert row.ts == b.at
    assert row.ts_raw == "garbage"  # still part of its unique key


def test_batches_that_can_never_be_stored_are_recognised() -> None:
    assert check_batch(lines_batch("c1", "stdout", [])) is None
    assert check_batch(lines_batch("c1", "stdin", [])) == "bad stream 'stdin'"
    assert check_batch(lines_batch("", "stdout", [])) == "empty container_id"
    assert check_batch(lines_batch("c1", "stdout", [], app="")) is not None


def test_like_wildcards_are_escaped() -> None:
    assert escape_like("100%_done\\") == "100\\%\\_done\\\\"


def test_a_query_names_only_the_filters_given_and_fetches_one_extra_row() -> None:
    sql = build_query(LogQuery(app_id="a1"))
    assert sql.text.endswith("WHERE app_id = $1 ORDER BY id ASC LIMIT $2")
    assert sql.args == ("a1", 201)

    sql = build_query(
        LogQuery(
            app_id="a1",
            since="2024-01-01T00:00:00Z",
            until="2024-01-02T00:00:00",
            stream="stderr",
            release_id="r9",
            q="50%",
            after_id=42,
            limit=10,
        )
    )
    assert "ts >= $2 AND ts < $3 AND stream = $4 AND release_id = $5" in sql.text
    assert "message ILIKE '%' || $6 || '%' AND id > $7" in sql.text
    assert sql.args[1:] == (
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 2, tzinfo=UTC),  # naive means UTC
        "stderr",
        "r9",
        "50\\%",
        42,
        11,
    )
    assert not sql.reverse


def test_a_tail_reads_newest_first_and_pages_backwards() -> None:
    sql = build_query(LogQuery(app_id="a1", tail=True, before_id=100, limit=5))
    assert "id < $2" in sql.text and "ORDER BY id DESC" in sql.text
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
    return [{"id": i, "ts": at, "stream": "stdout", "release_id": "r", "message": "x" * size} for i in ids]


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


def test_retention_defaults_apply_until_an_app_sets_its_own() -> None:
    default = retention.effective("a", None, None)
    assert (default.max_age_days, default.max_lines, default.custom_age) == (7, 1_000_000, False)
    custom = retention.effective("a", 2, None)
    assert (custom.max_age_days, custom.max_lines) == (2, 1_000_000)
    assert (custom.custom_age, custom.custom_lines) == (True, False)


def test_the_retention_plan_trims_each_app_by_its_own_limits() -> None:
    now = datetime(2024, 6, 10, tzinfo=UTC)
    plan = retention.plan([retention.effective("a", None, None), retention.effective("b", 1, 50)], now)
    assert plan == [
        retention.Trim("a", now - timedelta(days=7), 1_000_000),
        retention.Trim("b", now - timedelta(days=1), 50),
    ]


def test_retention_values_out_of_range_are_refused_naming_the_field() -> None:
    with pytest.raises(ValidationFailed) as err:
        retention.check(SetRetention(app_id="a", max_age_days=0))
    assert err.value.details[0].field == "maxAgeDays"
    with pytest.raises(ValidationFailed) as err:
        retention.check(SetRetention(app_id="a", max_lines=10**9))
    assert err.value.details[0].field == "maxLines"
    retention.check(SetRetention(app_id="a", max_age_days=30, max_lines=10))


def test_a_waiting_prompt_pull_is_committed_before_a_bulk_one() -> None:
    assert choose({}, 10.0) is None
    assert choose({BULK: 9.0}, 10.0) is BULK
    assert choose({PROMPT: 9.5}, 10.0) is PROMPT
    assert choose({PROMPT: 9.9, BULK: 9.0}, 10.0) is PROMPT


def test_a_bulk_pull_is_not_starved_by_prompt_ones_for_longer_than_its_patience() -> None:
    assert choose({PROMPT: 9.9, BULK: 10.0 - BULK_PATIENCE + 0.1}, 10.0) is PROMPT
    assert choose({PROMPT: 9.9, BULK: 10.0 - BULK_PATIENCE}, 10.0) is BULK
