"""Cron events: published by the API under its own event subjects, for the webhooks."""

from __future__ import annotations

from datetime import UTC, datetime

from berth_shared.contracts.apps import APP_EVENTS
from berth_shared.contracts.base import decode, encode
from berth_shared.contracts.cron import (
    CRON_ALERT_EVENTS,
    CRON_EVENTS,
    CronEvent,
    CronRunFailed,
    CronRunMissed,
    cron_event_subject,
)
from berth_shared.contracts.health import ALERT_EVENTS


def test_cron_events_are_the_apis_and_not_app_events() -> None:
    subject = cron_event_subject("failed", "a")
    assert subject == "berth.evt.api.cron.failed.a" and subject.startswith(CRON_EVENTS.removesuffix(">"))
    # The router's and the health service's app-event consumers must not receive them.
    assert not subject.startswith(APP_EVENTS.removesuffix(">"))
    assert not set(CRON_ALERT_EVENTS) & set(ALERT_EVENTS)


def test_cron_events_round_trip() -> None:
    due = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
    failed = CronRunFailed(app_id="a", job="nightly", run_id="r", due_at=due, outcome="exited", exit_code=1)
    missed = CronRunMissed(app_id="a", job="nightly", first_due_at=due, last_due_at=due, missed=1)
    assert decode(encode(failed), CronEvent) == failed
    assert decode(encode(missed), CronEvent) == missed
