"""What the API's cron events become as webhooks (ADR 0026 §4)."""

from __future__ import annotations

from datetime import UTC, datetime

from berth_health.cron_alerts import cron_alert
from berth_health.webhooks import check_events
from berth_shared.contracts.cron import CronRunFailed, CronRunMissed

T = datetime(2026, 1, 5, 3, 0, tzinfo=UTC)


def test_a_failed_cron_run_is_cron_failed_with_its_outcome_and_last_lines() -> None:
    event = CronRunFailed(
        app_id="a1", job="nightly", run_id="run-1", due_at=T, outcome="exited", exit_code=3,
        reason="exited with code 3", last_lines=["boom"],
    )  # fmt: skip
    assert cron_alert(event) == (
        "cron.failed",
        {
            "job": "nightly",
            "runId": "run-1",
            "dueAt": "2026-01-05T03:00:00Z",
            "outcome": "exited",
            "exitCode": 3,
            "reason": "exited with code 3",
            "lastLines": ["boom"],
        },
    )


def test_a_lost_run_has_no_exit_code() -> None:
    name, details = cron_alert(CronRunFailed(app_id="a1", job="j", run_id="r", outcome="lost", reason="lost"))
    assert name == "cron.failed" and details["exitCode"] is None and details["dueAt"] is None


def test_missed_due_times_are_cron_missed_with_their_count_and_range() -> None:
    event = CronRunMissed(app_id="a1", job="hourly", first_due_at=T, last_due_at=T.replace(hour=5), missed=3)
    assert cron_alert(event) == (
        "cron.missed",
        {
            "job": "hourly",
            "firstDueAt": "2026-01-05T03:00:00Z",
            "lastDueAt": "2026-01-05T05:00:00Z",
            "missed": 3,
            "caughtUpRunId": None,
        },
    )


def test_webhooks_may_subscribe_to_the_cron_events() -> None:
    assert check_events(["cron.failed", "cron.missed", "deploy.failed"]) == [
        "cron.failed",
        "cron.missed",
        "deploy.failed",
    ]
