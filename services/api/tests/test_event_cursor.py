"""The app event stream's resume cursor (``routes/events.py``): a client that reconnects with the
id of the last event it received gets exactly what it has not had, including entries that were
applied late (stamped before newer ones the client already got), and nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from berth_api.routes.events import CURSOR_KEYS, LOOKBACK, SentTracker, parse_resume

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def sent(t: SentTracker, entries: list[tuple[str, float]]) -> list[str]:
    return [key for key, s in entries if t.fresh(key, at(s))]


def test_a_resumed_stream_sends_the_late_and_the_newer_entries_only() -> None:
    live = SentTracker(None)
    assert sent(live, [("a", 1), ("c", 3)]) == ["a", "c"]
    cursor = live.event_id()
    assert cursor is not None
    # "b" was stamped at 2 s but applied after the client left; "d" came later still.
    resumed = SentTracker(parse_resume(cursor))
    assert sent(resumed, [("a", 1), ("b", 2), ("c", 3), ("d", 4)]) == ["b", "d"]
    # Its own cursor covers what the client had before and after: a second resume sends nothing old.
    again = SentTracker(parse_resume(resumed.event_id()))
    assert sent(again, [("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5)]) == ["e"]


def test_entries_older_than_the_window_count_as_received() -> None:
    live = SentTracker(None)
    sent(live, [("old", 0), ("new", LOOKBACK.total_seconds() + 10)])
    resume = parse_resume(live.event_id())
    assert resume is not None and resume.floor == at(10)
    assert sent(SentTracker(resume), [("old", 0), ("late-but-too-old", 5), ("new", 70)]) == []


def test_a_bare_time_resends_the_window_before_it() -> None:
    resume = parse_resume("2026-01-01T12:01:00Z")
    assert resume is not None and resume.floor == at(0)
    assert sent(SentTracker(resume), [("a", 30), ("b", 60), ("c", 61)]) == ["a", "b", "c"]


def test_the_cursor_names_a_bounded_number_of_entries() -> None:
    live = SentTracker(None)
    sent(live, [(f"k{i}", i / 100) for i in range(CURSOR_KEYS + 100)])
    cursor = live.event_id()
    assert cursor is not None
    floor, newest, digests = cursor.split("/")
    assert (floor, newest) == ("2026-01-01T12:00:01Z", "2026-01-01T12:00:05.990000Z")  # the oldest named, the newest
    assert len(digests.split(".")) == CURSOR_KEYS
    assert len(cursor) < 8 * 1024  # fits in a request header
    resume = parse_resume(cursor)
    assert resume is not None and resume.floor == at(100 / 100)
    assert sent(SentTracker(resume), [(f"k{i}", i / 100) for i in range(CURSOR_KEYS + 100)]) == []


def test_unreadable_ids_start_afresh() -> None:
    assert parse_resume(None) is None
    assert parse_resume("  ") is None
    assert parse_resume("not a time") is None
    assert parse_resume("x/y/z") is None
    assert parse_resume("2026-01-01T12:01:00Z/2026-01-01T12:00:00Z/ab") is None  # floor after newest
