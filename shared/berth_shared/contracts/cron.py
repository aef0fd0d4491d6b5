"""Cron family: what the API's scheduler tells the webhooks about (ADR 0026).

The API schedules every app's cron jobs (``berth_api.cron``) from its own tables and starts each
due run through the run family (``contracts/runs.py``). It publishes, through its outbox:

- ``berth.evt.api.cron.failed.<app_id>``: :class:`CronRunFailed` — a run exited non-zero, ran
  past its timeout, could not start, or was lost;
- ``berth.evt.api.cron.missed.<app_id>``: :class:`CronRunMissed` — due times more than one
  interval late were skipped (or only the latest run, with ``catch_up``), once per scheduler pass.

The health service turns them into the ``cron.failed`` / ``cron.missed`` webhooks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from berth_shared.contracts.base import Message

CRON_EVENTS = "berth.evt.api.cron.>"
# What a webhook may subscribe to, besides ``health.ALERT_EVENTS``.
CRON_ALERT_EVENTS: Final = ("cron.failed", "cron.missed")


def cron_event_subject(event: str, app_id: str) -> str:
    return f"berth.evt.api.cron.{event}.{app_id}"


class CronRunFailed(Message, kw_only=True):
    app_id: str
    job: str
    run_id: str
    due_at: datetime | None = None
    # ``exited`` (non-zero), ``timed_out``, ``failed_to_start`` or ``lost`` (RunFinished.outcome).
    outcome: str
    exit_code: int | None = None
    reason: str = ""
    last_lines: list[str] = []


class CronRunMissed(Message, kw_only=True):
    app_id: str
    job: str
    # The earliest and latest due times skipped in this pass, and how many.
    first_due_at: datetime
    last_due_at: datetime
    missed: int = 1
    # With catch_up: the run started for the latest missed due time instead.
    caught_up_run_id: str = ""


CronEvent = CronRunFailed | CronRunMissed
