"""Cron schedules, pure: parse one, and find its next due time after an instant in a time zone.

Accepted (ADR 0026):

- five fields ``minute hour day-of-month month day-of-week``, each ``*``, a value, a range
  ``a-b``, a step ``*/s``, ``a-b/s`` or ``a/s`` (``a`` to the field's end), or a list of those
  joined by ``,``; months ``jan``-``dec`` and days ``sun``-``sat`` by name (any case); day of week
  ``0`` or ``7`` is Sunday. As in Vixie cron, when both day fields are restricted (neither starts
  with ``*``) a day matches either; otherwise it must match both;
- ``@yearly`` (``@annually``), ``@monthly``, ``@weekly``, ``@daily`` (``@midnight``), ``@hourly``;
- ``@every <duration>``: ``30s``, ``5m``, ``1h``, ``1h30m``, ``2d``, at least 5 s, at most 366 days,
  counted from the previous due time (time zones play no part).

Five-field schedules are read in the job's time zone (``UTC`` by default, else an IANA name
from the host's tz database). A wall time that happens twice (clocks going back) is due once, at
its first occurrence; wall times skipped by clocks going forward are due once, when the gap ends.
Schedules that can never be due (``0 0 30 2 *``) are refused.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Final

MIN_EVERY: Final = timedelta(seconds=5)
MAX_EVERY: Final = timedelta(days=366)
MAX_TEXT: Final = 200
# How far ahead a due time is looked for: every calendar combination repeats within 8 years
# (a leap day on a given weekday takes up to 28, but such a day also matches by weekday alone).
HORIZON_DAYS: Final = 8 * 366

MACROS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTH_NAMES: Final = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTHS: Final = {name: n for n, name in enumerate(_MONTH_NAMES, 1)}
_DAYS: Final = {name: n for n, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
# (name, lowest, highest, names)
_NO_NAMES: Final[dict[str, int]] = {}
_FIELDS: Final[tuple[tuple[str, int, int, dict[str, int]], ...]] = (
    ("minute", 0, 59, _NO_NAMES),
    ("hour", 0, 23, _NO_NAMES),
    ("day of month", 1, 31, _NO_NAMES),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_EVERY = re.compile(r"(?:(\d{1,6})d)?(?:(\d{1,6})h)?(?:(\d{1,6})m)?(?:(\d{1,8})s)?")
_ZONE_NAME = re.compile(r"[A-Za-z0-9_+-]+(?:/[A-Za-z0-9_+-]+){0,3}")


class ScheduleError(ValueError):
    """A schedule or time zone that cannot be used; the message says what is wrong with it."""


@dataclass(frozen=True)
class Schedule:
    text: str
    minutes: tuple[int, ...] = ()
    hours: tuple[int, ...] = ()
    days: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()  # 0 = Sunday
    # Vixie cron's rule: a day field starting with ``*`` does not widen the other one.
    days_starred: bool = True
    weekdays_starred: bool = True
    # ``@every``: due this long after the previous due time.
    every: timedelta | None = None

    def day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_days = day.day in self.days
        in_weekdays = (day.isoweekday() % 7) in self.weekdays
        if self.days_starred or self.weekdays_starred:
            return in_days and in_weekdays
        return in_days or in_weekdays


def parse(text: str) -> Schedule:
    """The schedule ``text`` describes; :class:`ScheduleError` when it is not one."""
    if not isinstance(text, str) or not text.strip():
        raise ScheduleError("must be a cron schedule such as '*/5 * * * *', '@daily' or '@every 30s'")
    if len(text) > MAX_TEXT:
        raise ScheduleError(f"is longer than {MAX_TEXT} characters")
    spec = " ".join(text.split())
    lowered = spec.lower()
    if lowered.startswith("@every"):
        return Schedule(text=spec, every=_every(lowered.removeprefix("@every").strip()))
    if lowered.startswith("@"):
        if lowered not in MACROS:
            raise ScheduleError(f"unknown macro {spec!r}; known: {', '.join(MACROS)}, @every <duration>")
        spec_fields = MACROS[lowered].split()
    else:
        spec_fields = lowered.split()
    if len(spec_fields) != len(_FIELDS):
        raise ScheduleError(
            f"has {len(spec_fields)} fields; a cron schedule has 5 (minute hour day-of-month month day-of-week)"
        )
    values = [_field(raw, *field) for raw, field in zip(spec_fields, _FIELDS, strict=True)]
    schedule = Schedule(
        text=spec,
        minutes=tuple(sorted(values[0])),
        hours=tuple(sorted(values[1])),
        days=frozenset(values[2]),
        months=frozenset(values[3]),
        weekdays=frozenset(d % 7 for d in values[4]),
        days_starred=spec_fields[2].startswith("*"),
        weekdays_starred=spec_fields[4].startswith("*"),
    )
    if _first_day(schedule, date(2000, 1, 1)) is None:
        raise ScheduleError(f"{spec!r} is never due (no such day)")
    return schedule


def _every(raw: str) -> timedelta:
    match = _EVERY.fullmatch(raw)
    if not raw or match is None:
        raise ScheduleError(f"@every needs a duration such as 30s, 5m, 1h or 1h30m, not {raw!r}")
    d, h, m, s = (int(part) if part else 0 for part in match.groups())
    every = timedelta(days=d, hours=h, minutes=m, seconds=s)
    if every < MIN_EVERY:
        raise ScheduleError(f"@every {raw} is shorter than {int(MIN_EVERY.total_seconds())}s")
    if every > MAX_EVERY:
        raise ScheduleError(f"@every {raw} is longer than {MAX_EVERY.days} days")
    return every


def _value(raw: str, name: str, low: int, high: int, names: dict[str, int]) -> int:
    if raw in names:
        return names[raw]
    if not raw.isdecimal() or len(raw) > 2:
        known = f" or a name ({', '.join(names)})" if names else ""
        raise ScheduleError(f"{name} field: {raw!r} is not a number{known}")
    value = int(raw)
    if not low <= value <= high:
        raise ScheduleError(f"{name} field: {value} is out of range {low}-{high}")
    return value


def _field(raw: str, name: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    values: set[int] = set()
    for part in raw.split(","):
        body, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdecimal() or not 1 <= int(step_text) <= high:
                raise ScheduleError(f"{name} field: step {step_text!r} must be a number from 1 to {high}")
            step = int(step_text)
        if body == "*":
            start, end = low, high
        elif "-" in body:
            first, _, last = body.partition("-")
            start, end = _value(first, name, low, high, names), _value(last, name, low, high, names)
            if start > end:
                raise ScheduleError(f"{name} field: range {body} runs backwards")
        else:
            start = _value(body, name, low, high, names)
            end = high if slash else start
        values.update(range(start, end + 1, step))
    return values


def zone(name: str) -> tzinfo:
    """The time zone ``name`` (``UTC`` or an IANA name such as ``Europe/Berlin``)."""
    if name == "UTC":
        return UTC
    if not isinstance(name, str) or not _ZONE_NAME.fullmatch(name):
        raise ScheduleError(f"{name!r} is not a time zone name such as 'UTC' or 'Europe/Berlin'")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f"unknown time zone {name!r}") from None


def _first_day(schedule: Schedule, start: date) -> date | None:
    for offset in range(HORIZON_DAYS):
        day = start + timedelta(days=offset)
        if schedule.day_matches(day):
            return day
    return None


def _instant(wall: datetime, where: tzinfo) -> datetime:
    """The instant wall time ``wall`` (naive) is due in ``where``: its first occurrence, or, for a
    wall time the clocks skipped, the end of the gap."""
    if where is UTC:
        return wall.replace(tzinfo=UTC)
    first = wall.replace(tzinfo=where, fold=0)
    if first.astimezone(UTC).astimezone(where).replace(tzinfo=None) == wall:
        return first
    # In a gap: fold=0 reads it with the offset before the change (the later instant), fold=1
    # with the one after (the earlier); the change itself lies between, on a whole second.
    low = int(wall.replace(tzinfo=where, fold=1).timestamp())
    high = int(first.timestamp())
    after_change = datetime.fromtimestamp(high, UTC).astimezone(where).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(where).utcoffset() == after_change:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def next_due(schedule: Schedule | str, after: datetime, tz: str | tzinfo = "UTC") -> datetime:
    """The first due time of ``schedule`` strictly after ``after`` (an aware datetime), in UTC."""
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("after must be an aware datetime")
    parsed = parse(schedule) if isinstance(schedule, str) else schedule
    if parsed.every is not None:
        return after.astimezone(UTC).replace(microsecond=0) + parsed.every
    where = zone(tz) if isinstance(tz, str) else tz
    # Wall times map to instants in order (a gap's times all to its end, a repeated hour's to its
    # first occurrence), so the first candidate from after's own wall time that is later wins.
    start = after.astimezone(where).replace(tzinfo=None, second=0, microsecond=0, fold=0)
    for offset in range(HORIZON_DAYS):
        day = start.date() + timedelta(days=offset)
        if not parsed.day_matches(day):
            continue
        for hour in parsed.hours:
            if offset == 0 and hour < start.hour:
                continue
            for minute in parsed.minutes:
                wall = datetime(day.year, day.month, day.day, hour, minute)
                if wall < start:
                    continue
                instant = _instant(wall, where)
                if instant > after:
                    return instant.astimezone(UTC)
    raise ScheduleError(f"{parsed.text!r} is not due within {HORIZON_DAYS // 366} years")
