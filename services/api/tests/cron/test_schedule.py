"""Cron schedules: fields, names, macros, @every, time zones and their clock changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from berth_api.cron.schedule import ScheduleError, next_due, parse, zone


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def dues(schedule: str, after: str, n: int, tz: str = "UTC") -> list[str]:
    out: list[str] = []
    t = at(after)
    for _ in range(n):
        t = next_due(schedule, t, tz)
        out.append(t.strftime("%Y-%m-%d %H:%M:%S"))
    return out


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        ("* * * * *", "2026-12-05T10:00:30+00:00", ["2026-12-05 10:01:00", "2026-12-05 10:02:00"]),
        ("*/15 * * * *", "2026-12-05T10:14:59+00:00", ["2026-12-05 10:15:00", "2026-12-05 10:30:00"]),
        ("5-10/5,59 3 * * *", "2026-12-05T03:00:00+00:00",
         ["2026-12-05 03:05:00", "2026-12-05 03:10:00", "2026-12-05 03:59:00", "2026-12-06 03:05:00"]),
        ("0 9 * * mon-fri", "2026-12-04T09:00:00+00:00", ["2026-12-07 09:00:00", "2026-12-08 09:00:00"]),  # Fri -> Mon
        ("0 0 * * 7", "2026-12-05T12:00:00+00:00", ["2026-12-06 00:00:00", "2026-12-13 00:00:00"]),  # 7 is Sunday
        ("30 4 1 JAN,jul *", "2026-12-05T00:00:00+00:00", ["2027-01-01 04:30:00", "2027-07-01 04:30:00"]),
        ("0 0 29 2 *", "2026-12-05T00:00:00+00:00", ["2028-02-29 00:00:00", "2032-02-29 00:00:00"]),
        ("0 12 10/10 * *", "2026-12-05T00:00:00+00:00",
         ["2026-12-10 12:00:00", "2026-12-20 12:00:00", "2026-12-30 12:00:00", "2027-01-10 12:00:00"]),
        ("@hourly", "2026-12-05T10:00:00+00:00", ["2026-12-05 11:00:00", "2026-12-05 12:00:00"]),
        ("@daily", "2026-12-05T10:00:00+00:00", ["2026-12-06 00:00:00"]),
        ("@weekly", "2026-12-05T10:00:00+00:00", ["2026-12-06 00:00:00", "2026-12-13 00:00:00"]),
        ("@monthly", "2026-12-05T10:00:00+00:00", ["2027-01-01 00:00:00", "2027-02-01 00:00:00"]),
        ("@yearly", "2026-12-05T10:00:00+00:00", ["2027-01-01 00:00:00", "2028-01-01 00:00:00"]),
        ("@every 30s", "2026-12-05T10:00:00.250+00:00", ["2026-12-05 10:00:30", "2026-12-05 10:01:00"]),
        ("@every 1h30m", "2026-12-05T10:00:00+00:00", ["2026-12-05 11:30:00", "2026-12-05 13:00:00"]),
    ],
)  # fmt: skip
def test_next_due_times(schedule: str, after: str, expected: list[str]) -> None:
    assert dues(schedule, after, len(expected)) == expected


def test_both_day_fields_restricted_match_either_one_starred_must_match_both() -> None:
    # The 13th or any Friday (Vixie cron).
    assert dues("0 0 13 * fri", "2026-12-01T00:00:00+00:00", 3) == [
        "2026-12-04 00:00:00", "2026-12-11 00:00:00", "2026-12-13 00:00:00",
    ]  # fmt: skip
    # A stepped star is still a star: every other day of the month that is a Monday.
    assert dues("0 0 */2 * mon", "2026-12-01T00:00:00+00:00", 2) == ["2026-12-07 00:00:00", "2026-12-21 00:00:00"]


def test_due_times_are_strictly_after_and_in_utc() -> None:
    due = next_due("0 * * * *", at("2026-12-05T10:00:00+00:00"))
    assert due == at("2026-12-05T11:00:00+00:00") and due.tzinfo is UTC
    other_zone = datetime(2026, 12, 5, 11, 0, tzinfo=timezone(timedelta(hours=1)))  # 10:00 UTC
    assert next_due("0 * * * *", other_zone) == at("2026-12-05T11:00:00+00:00")
    with pytest.raises(ValueError, match="aware"):
        next_due("* * * * *", datetime(2026, 12, 5))


def test_time_zones_and_their_clock_changes() -> None:
    # 09:00 in Berlin is 08:00 UTC in winter, 07:00 in summer.
    assert dues("0 9 * * *", "2026-03-27T12:00:00+00:00", 3, "Europe/Berlin") == [
        "2026-03-28 08:00:00", "2026-03-29 07:00:00", "2026-03-30 07:00:00",
    ]  # fmt: skip
    # Clocks go forward at 02:00 -> 03:00 on 29 March: 02:30 is due once, when the gap ends
    # (01:00 UTC), and the quarter-hours in the gap collapse into that one time.
    assert dues("30 2 * * *", "2026-03-28T12:00:00+00:00", 2, "Europe/Berlin") == [
        "2026-03-29 01:00:00", "2026-03-30 00:30:00",
    ]  # fmt: skip
    assert dues("*/15 * * * *", "2026-03-29T00:40:00+00:00", 3, "Europe/Berlin") == [
        "2026-03-29 00:45:00", "2026-03-29 01:00:00", "2026-03-29 01:15:00",
    ]  # fmt: skip
    # Clocks go back at 03:00 -> 02:00 on 25 October: 02:30 happens twice, due at the first.
    assert dues("30 2 * * *", "2026-10-24T12:00:00+00:00", 2, "Europe/Berlin") == [
        "2026-10-25 00:30:00", "2026-10-26 01:30:00",
    ]  # fmt: skip
    # @every ignores wall clocks.
    assert dues("@every 1h", "2026-03-29T00:30:00+00:00", 2, "Europe/Berlin") == [
        "2026-03-29 01:30:00", "2026-03-29 02:30:00",
    ]  # fmt: skip


def test_a_parsed_schedule_and_a_zone_object_can_be_reused() -> None:
    schedule = parse("  0   6 * * *  ")
    assert schedule.text == "0 6 * * *"
    assert next_due(schedule, at("2026-12-05T00:00:00+00:00"), zone("America/New_York")) == at(
        "2026-12-05T11:00:00+00:00"
    )
    assert zone("UTC") is UTC


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("", "must be a cron schedule"),
        ("* * * *", "has 4 fields"),
        ("60 * * * *", "minute field: 60 is out of range 0-59"),
        ("* 24 * * *", "hour field: 24 is out of range 0-23"),
        ("* * 0 * *", "day of month field: 0 is out of range 1-31"),
        ("* * * 13 *", "month field: 13 is out of range 1-12"),
        ("* * * * 8", "day of week field: 8 is out of range 0-7"),
        ("* * * foo *", "month field: 'foo' is not a number or a name"),
        ("jan * * * *", "minute field: 'jan' is not a number"),
        ("5-1 * * * *", "range 5-1 runs backwards"),
        ("*/0 * * * *", "step '0' must be a number from 1 to 59"),
        ("1,,2 * * * *", "minute field"),
        ("0 0 30 2 *", "never due"),
        ("0 0 31 4,6,9,11 *", "never due"),
        ("@fortnightly", "unknown macro"),
        ("@every", "@every needs a duration"),
        ("@every 10", "@every needs a duration"),
        ("@every 2s", "shorter than 5s"),
        ("@every 400d", "longer than 366 days"),
        ("* " * 120, "longer than 200 characters"),
    ],
)
def test_bad_schedules_say_what_is_wrong(schedule: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message.replace("*", r"\*")):
        parse(schedule)


@pytest.mark.parametrize("name", ["Mars/Olympus", "../etc/passwd", "/etc/localtime", "Europe/Berlin/../x", ""])
def test_unknown_or_unsafe_zone_names_are_refused(name: str) -> None:
    with pytest.raises(ScheduleError):
        zone(name)
