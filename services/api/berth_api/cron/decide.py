"""What the scheduler does with a job whose due time has come, pure (ADR 0026 §4).

``decide(job, running, now)`` looks at the job's pending due time (``job.next_due_at <= now``)
and the job's unfinished runs and returns a :class:`Decision`, the data the store writes in one
transaction with the job's new due time:

- *on time or late by at most one interval* (the next due time after this one minus this one):
  a run for the due time (trigger ``schedule``), with its lateness;
- *later than that*: every due time up to ``now`` is **missed** (one entry: first, last, how
  many), unless ``catch_up``, which also starts one run for the latest of them (``catch_up``);
- a run to start passes the job's concurrency policy first (:func:`admit`): ``forbid`` skips it
  while a run is unfinished, ``allow`` starts up to :data:`CRON_ALLOW_MAX` at once, ``replace``
  stops the unfinished ones and starts it;
- the job's next due time counts from the due time handled, not from now, so a restarted
  scheduler never drifts.

A manual run ("run now") follows the same policy through :func:`admit`. When a release goes
live, :func:`resync` says which of the app's jobs keep their due times.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from berth_shared.contracts.processes import CRON_ALLOW_MAX, Concurrency, CronJob

from berth_api.cron.schedule import next_due

Trigger = Literal["schedule", "manual", "catch_up"]
# A job whose scheduler was away for longer than this many due times gets its next due time
# counted from now instead of walking every one (an ``@every 5s`` job after a month away).
MAX_WALK: Final = 10_000


@dataclass(frozen=True)
class Job:
    app_id: str
    name: str
    schedule: str
    next_due_at: datetime
    timezone: str = "UTC"
    concurrency: Concurrency = "forbid"
    catch_up: bool = False


@dataclass(frozen=True)
class Admission:
    """Whether a run may start now under the job's policy, which unfinished runs to stop first,
    and why not when it may not."""

    start: bool
    stop: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True)
class PlannedRun:
    due_at: datetime
    trigger: Trigger
    late_ms: int


@dataclass(frozen=True)
class Skipped:
    due_at: datetime
    reason: str


@dataclass(frozen=True)
class Missed:
    first_due_at: datetime
    last_due_at: datetime
    count: int


@dataclass(frozen=True)
class Decision:
    # The latest due time this decision handled (the job's ``last_due_at``) and the next one.
    due_at: datetime
    next_due_at: datetime
    run: PlannedRun | None = None
    stop: tuple[str, ...] = ()
    skipped: Skipped | None = None
    missed: Missed | None = None


def admit(concurrency: Concurrency, running: Sequence[str]) -> Admission:
    """May a run of a job start while ``running`` (its unfinished runs' ids) are?"""
    if not running:
        return Admission(start=True)
    if concurrency == "replace":
        return Admission(start=True, stop=tuple(running))
    if concurrency == "allow":
        if len(running) < CRON_ALLOW_MAX:
            return Admission(start=True)
        return Admission(start=False, reason=f"{len(running)} runs still going (allow: at most {CRON_ALLOW_MAX})")
    return Admission(start=False, reason=f"run {running[0]} still going (concurrency forbid)")


def decide(job: Job, running: Sequence[str], now: datetime) -> Decision | None:
    """The decision for ``job``'s pending due time at ``now``; None when it is not due yet."""
    due = job.next_due_at
    if due > now:
        return None
    after = next_due(job.schedule, due, job.timezone)
    if now - due <= after - due:
        return _started(job, running, now, due=due, after=after, trigger="schedule", missed=None)
    first, last, count = due, due, 1
    while after <= now and count < MAX_WALK:
        last, after = after, next_due(job.schedule, after, job.timezone)
        count += 1
    if after <= now:  # walked MAX_WALK due times and still behind: the rest counts from now
        after = next_due(job.schedule, now, job.timezone)
    missed = Missed(first_due_at=first, last_due_at=last, count=count)
    if not job.catch_up:
        return Decision(due_at=last, next_due_at=after, missed=missed)
    return _started(job, running, now, due=last, after=after, trigger="catch_up", missed=missed)


def _started(
    job: Job,
    running: Sequence[str],
    now: datetime,
    *,
    due: datetime,
    after: datetime,
    trigger: Trigger,
    missed: Missed | None,
) -> Decision:
    admission = admit(job.concurrency, running)
    if not admission.start:
        return Decision(due_at=due, next_due_at=after, skipped=Skipped(due, admission.reason), missed=missed)
    late = max(timedelta(0), now - due)
    run = PlannedRun(due_at=due, trigger=trigger, late_ms=int(late / timedelta(milliseconds=1)))
    return Decision(due_at=due, next_due_at=after, run=run, stop=admission.stop, missed=missed)


@dataclass(frozen=True)
class Scheduled:
    """A job as stored: its schedule and time zone, and its due times."""

    schedule: str
    timezone: str
    next_due_at: datetime
    last_due_at: datetime | None = None


def resync(
    stored: Mapping[str, Scheduled], wanted: Sequence[CronJob], now: datetime
) -> tuple[dict[str, Scheduled], list[str]]:
    """The jobs of a newly live release: each one's due times (a job whose schedule and time
    zone are unchanged keeps its next due time; a new or changed one is due next after ``now``),
    and the names of the stored jobs it no longer has."""
    kept: dict[str, Scheduled] = {}
    for job in wanted:
        old = stored.get(job.name)
        if old is not None and (old.schedule, old.timezone) == (job.schedule, job.timezone):
            kept[job.name] = old
        else:
            kept[job.name] = Scheduled(job.schedule, job.timezone, next_due(job.schedule, now, job.timezone))
    return kept, sorted(set(stored) - set(kept))
