"""What the scheduler tells the webhooks (ADR 0026 §4), pure: a cron run's end that is a failure
becomes :class:`CronRunFailed`, a pass's missed due times :class:`CronRunMissed`. The stores
publish them through the outbox in the transaction that records them."""

from __future__ import annotations

from datetime import datetime

from berth_shared.contracts.cron import CronRunFailed, CronRunMissed
from berth_shared.contracts.runs import RunFinished

from berth_api.cron.decide import Missed

LAST_LINES = 20


def failed(finished: RunFinished) -> bool:
    """A run that exited non-zero, ran past its timeout, never started, or was lost (a stop is
    what someone asked for, not a failure)."""
    if finished.outcome == "exited":
        return finished.exit_code != 0
    return finished.outcome in {"timed_out", "failed_to_start", "lost"}


def run_failed(finished: RunFinished, job: str, due_at: datetime | None) -> CronRunFailed | None:
    if not failed(finished):
        return None
    return CronRunFailed(
        app_id=finished.app_id,
        job=job,
        run_id=finished.run_id,
        due_at=due_at,
        outcome=finished.outcome,
        exit_code=finished.exit_code,
        reason=finished.reason,
        last_lines=finished.last_lines[-LAST_LINES:],
    )


def runs_missed(app_id: str, job: str, missed: Missed, caught_up_run_id: str = "") -> CronRunMissed:
    return CronRunMissed(
        app_id=app_id,
        job=job,
        first_due_at=missed.first_due_at,
        last_due_at=missed.last_due_at,
        missed=missed.count,
        caught_up_run_id=caught_up_run_id,
    )
