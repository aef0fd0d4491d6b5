"""Runs whose end the API never heard of (ADR 0026 §5), pure: an unfinished run that the agent
does not hold a container for, created more than :data:`LOST_AFTER` before the agent read its
containers, is ``lost`` (its ``RunFinished`` went missing, or the agent never got to start it).
Applied by the agent resync through the store the run events use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from berth_shared.contracts.agent import AgentApps
from berth_shared.contracts.runs import RunFinished

LOST_AFTER: Final = timedelta(minutes=2)


@dataclass(frozen=True)
class Unfinished:
    run_id: str
    app_id: str
    created_at: datetime


def lost_runs(unfinished: Sequence[Unfinished], held: AgentApps) -> list[RunFinished]:
    """The ``lost`` reports of the runs ``held`` (read after ``unfinished``) shows no container of."""
    holding = {c.run_id for app in held.apps for c in app.containers if c.run_id}
    return [
        RunFinished(
            app_id=run.app_id,
            run_id=run.run_id,
            outcome="lost",
            reason=f"the agent holds no container of it {LOST_AFTER.seconds} s after it was asked to start",
        )
        for run in unfinished
        if run.run_id not in holding and held.at - run.created_at >= LOST_AFTER
    ]
