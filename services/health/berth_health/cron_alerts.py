"""What a cron event of the API becomes as a webhook: a pure mapping (ADR 0026 §4).

The API publishes :class:`CronRunFailed` (a cron run exited non-zero, timed out, could not
start or was lost) and :class:`CronRunMissed` (due times skipped in one scheduler pass); the
health service delivers them as ``cron.failed`` / ``cron.missed`` to the webhooks subscribed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from berth_shared.contracts.cron import CronEvent, CronRunFailed, CronRunMissed


def _ts(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def cron_alert(event: CronEvent) -> tuple[str, dict[str, Any]]:
    """The webhook event's name and its ``details``."""
    match event:
        case CronRunFailed():
            return "cron.failed", {
                "job": event.job,
                "runId": event.run_id,
                "dueAt": _ts(event.due_at),
                "outcome": event.outcome,
                "exitCode": event.exit_code,
                "reason": event.reason,
                "lastLines": list(event.last_lines),
            }
        case CronRunMissed():
            return "cron.missed", {
                "job": event.job,
                "firstDueAt": _ts(event.first_due_at),
                "lastDueAt": _ts(event.last_due_at),
                "missed": event.missed,
                "caughtUpRunId": event.caught_up_run_id or None,
            }
