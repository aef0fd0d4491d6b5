"""The scheduler's decisions on data, with a fake clock (ADR 0026 §4)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from berth_api.cron.decide import Decision, Job, Missed, Scheduled, admit, decide, resync
from berth_api.cron.schedule import next_due
from berth_shared.contracts.processes import CronJob

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def job(schedule: str = "*/5 * * * *", due: datetime = T0, **kw: object) -> Job:
    return Job(app_id="app", name="tick", schedule=schedule, next_due_at=due, **kw)  # type: ignore[arg-type]


def test_a_job_not_yet_due_is_left_alone() -> None:
    assert decide(job(), [], T0 - timedelta(seconds=1)) is None


def test_a_due_time_on_time_starts_one_run_and_the_next_due_time_counts_from_it() -> None:
    d = decide(job(), [], T0 + timedelta(milliseconds=250))
    assert d is not None and d.run is not None
    assert (d.run.due_at, d.run.trigger, d.run.late_ms) == (T0, "schedule", 250)
    assert d.next_due_at == T0 + 5 * MIN  # from the due time, not from now
    assert d.missed is None and d.skipped is None and d.stop == ()


def test_late_by_at_most_one_interval_still_runs_and_says_how_late() -> None:
    d = decide(job(), [], T0 + 5 * MIN)
    assert d is not None and d.run is not None and d.run.late_ms == 300_000
    assert d.next_due_at == T0 + 5 * MIN  # that one is due too: the next pass takes it


def test_later_than_one_interval_every_due_time_up_to_now_is_missed_once() -> None:
    d = decide(job(), [], T0 + 17 * MIN)
    assert d == Decision(
        due_at=T0 + 15 * MIN,
        next_due_at=T0 + 20 * MIN,
        missed=Missed(first_due_at=T0, last_due_at=T0 + 15 * MIN, count=4),
    )


def test_catch_up_runs_the_latest_missed_due_time_once() -> None:
    d = decide(job(catch_up=True), [], T0 + 17 * MIN)
    assert d is not None and d.run is not None
    assert (d.run.due_at, d.run.trigger) == (T0 + 15 * MIN, "catch_up")
    assert d.missed == Missed(first_due_at=T0, last_due_at=T0 + 15 * MIN, count=4)
    assert d.next_due_at == T0 + 20 * MIN


def test_forbid_skips_a_due_time_while_a_run_is_unfinished() -> None:
    d = decide(job(), ["r1"], T0)
    assert d is not None and d.run is None and d.stop == ()
    assert d.skipped is not None and d.skipped.due_at == T0 and "r1" in d.skipped.reason
    assert d.next_due_at == T0 + 5 * MIN


def test_allow_starts_up_to_three_at_once_then_skips() -> None:
    allowing = job(concurrency="allow")
    for running in ([], ["r1"], ["r1", "r2"]):
        d = decide(allowing, running, T0)
        assert d is not None and d.run is not None and d.stop == ()
    d = decide(allowing, ["r1", "r2", "r3"], T0)
    assert d is not None and d.run is None and d.skipped is not None


def test_replace_stops_the_unfinished_runs_and_starts_the_new_one() -> None:
    d = decide(job(concurrency="replace"), ["r1", "r2"], T0)
    assert d is not None and d.run is not None and d.stop == ("r1", "r2")


def test_catch_up_follows_the_policy_too_and_still_reports_the_miss() -> None:
    d = decide(job(catch_up=True), ["r1"], T0 + 17 * MIN)
    assert d is not None and d.run is None and d.skipped is not None
    assert d.missed is not None and d.missed.count == 4


def test_manual_runs_follow_the_same_policy() -> None:
    assert admit("forbid", []).start
    assert not admit("forbid", ["r1"]).start
    assert admit("replace", ["r1"]).stop == ("r1",)
    assert not admit("allow", ["a", "b", "c"]).start


def test_a_long_absence_of_a_fast_job_is_bounded_and_lands_after_now() -> None:
    now = T0 + timedelta(days=30)
    d = decide(job("@every 5s"), [], now)
    assert d is not None and d.missed is not None and d.missed.count == 10_000
    assert now < d.next_due_at <= now + timedelta(seconds=5)


def test_time_zones_shape_the_next_due_time() -> None:
    due = next_due("0 9 * * *", T0, "Europe/Paris")
    d = decide(job("0 9 * * *", due, timezone="Europe/Paris"), [], due)
    assert d is not None and d.next_due_at == due + timedelta(days=1)


class FakeScheduler:
    """The loop's bookkeeping on data: apply each decision as the store would, in one step."""

    def __init__(self, j: Job) -> None:
        self.job = j
        self.runs: list[tuple[datetime, str]] = []
        self.missed: list[Missed] = []

    def tick(self, now: datetime) -> None:
        while (d := decide(self.job, [], now)) is not None:
            if d.run:
                self.runs.append((d.run.due_at, d.run.trigger))
            if d.missed:
                self.missed.append(d.missed)
            self.job = replace(self.job, next_due_at=d.next_due_at)


def test_exactly_one_run_per_due_time_across_a_restart_mid_schedule() -> None:
    s = FakeScheduler(job())
    now = T0
    while now < T0 + 12 * MIN:  # passes every 7 s up to 12:12
        s.tick(now)
        now += timedelta(seconds=7)
    # the API is down from 12:12 to 12:16 (shorter than an interval), then passes resume
    now = T0 + 16 * MIN
    while now < T0 + 31 * MIN:
        s.tick(now)
        now += timedelta(seconds=7)
    assert [due for due, _ in s.runs] == [T0 + k * 5 * MIN for k in range(7)]
    assert s.missed == []


def test_a_restart_after_a_long_outage_records_the_miss_once_then_runs_on_schedule() -> None:
    s = FakeScheduler(job(catch_up=True))
    s.tick(T0)
    s.tick(T0 + 23 * MIN)  # back after missing 12:05 .. 12:20
    s.tick(T0 + 25 * MIN)
    assert s.runs == [(T0, "schedule"), (T0 + 20 * MIN, "catch_up"), (T0 + 25 * MIN, "schedule")]
    assert s.missed == [Missed(first_due_at=T0 + 5 * MIN, last_due_at=T0 + 20 * MIN, count=4)]


def test_a_new_release_keeps_unchanged_jobs_due_times_and_schedules_new_or_changed_ones_from_now() -> None:
    now = T0 + 2 * MIN
    stored = {
        "same": Scheduled("*/5 * * * *", "UTC", T0 + 5 * MIN, T0),
        "moved": Scheduled("*/5 * * * *", "UTC", T0 + 5 * MIN, T0),
        "gone": Scheduled("@hourly", "UTC", T0 + 60 * MIN),
    }
    wanted = [
        CronJob(name="same", schedule="*/5 * * * *", command=["a"]),
        CronJob(name="moved", schedule="*/5 * * * *", timezone="Asia/Kolkata", command=["b"]),
        CronJob(name="new", schedule="@every 30s", command=["c"]),
    ]
    kept, gone = resync(stored, wanted, now)
    assert kept["same"] == stored["same"]
    assert kept["moved"] == Scheduled("*/5 * * * *", "Asia/Kolkata", T0 + 5 * MIN)
    assert kept["new"].next_due_at == now + timedelta(seconds=30)
    assert gone == ["gone"]
