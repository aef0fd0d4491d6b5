"""Runs the API never heard the end of become lost, only when the agent holds no container of
them and they are old enough (ADR 0026 §5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from berth_api.run_repairs import Unfinished, lost_runs
from berth_shared.contracts.agent import AgentApps, HeldApp, HeldContainer

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def held(*run_ids: str) -> AgentApps:
    containers = [
        HeldContainer(release_id="r", slot="", container_id=f"c{i}", run_id=rid) for i, rid in enumerate(run_ids)
    ]
    return AgentApps(host="h", apps=[HeldApp(app_id="a", containers=containers)], at=NOW)


def test_an_old_unfinished_run_without_a_container_is_lost_and_the_others_are_left() -> None:
    runs = [
        Unfinished("gone", "a", NOW - timedelta(minutes=5)),
        Unfinished("running", "a", NOW - timedelta(minutes=5)),
        Unfinished("just-asked", "a", NOW - timedelta(seconds=30)),
    ]
    lost = lost_runs(runs, held("running", ""))
    assert [(r.run_id, r.app_id, r.outcome) for r in lost] == [("gone", "a", "lost")]
    assert "no container" in lost[0].reason
