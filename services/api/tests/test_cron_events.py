"""Which cron run ends the webhooks hear of (ADR 0026 §4)."""

from __future__ import annotations

from datetime import UTC, datetime

from berth_api.cron.decide import Missed
from berth_api.cron_events import run_failed, runs_missed
from berth_shared.contracts.runs import RunFinished

DUE = datetime(2030, 1, 1, tzinfo=UTC)


def finished(outcome: str, exit_code: int | None = None) -> RunFinished:
    return RunFinished(
        app_id="a", run_id="r", outcome=outcome, exit_code=exit_code, last_lines=[f"l{i}" for i in range(30)]
    )  # type: ignore[arg-type]


def test_failures_are_a_non_zero_exit_a_timeout_a_start_that_failed_and_a_lost_run() -> None:
    for outcome, code in (("exited", 2), ("timed_out", 137), ("failed_to_start", None), ("lost", None)):
        event = run_failed(finished(outcome, code), "nightly", DUE)
        assert event is not None and (event.outcome, event.exit_code, event.job) == (outcome, code, "nightly")
        assert event.last_lines == [f"l{i}" for i in range(10, 30)]
    assert run_failed(finished("exited", 0), "nightly", DUE) is None
    assert run_failed(finished("stopped", 143), "nightly", DUE) is None


def test_a_miss_names_its_due_times_and_the_catch_up_run() -> None:
    event = runs_missed("a", "nightly", Missed(DUE, DUE, 1), "r2")
    assert (event.missed, event.first_due_at, event.caught_up_run_id) == (1, DUE, "r2")
