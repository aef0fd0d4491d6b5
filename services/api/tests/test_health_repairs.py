"""The pure decision of which health transitions the API missed (ADR 0018)."""

from __future__ import annotations

from datetime import UTC, datetime

from berth_api.health_repairs import AppView, missed_transitions
from berth_shared.contracts.health import AppHealthState, AppRecovered, AppUnhealthy, HealthStates, RestartsExhausted

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
LONG_AGO = NOW.timestamp() - 120
JUST_NOW = NOW.timestamp() - 2


def states(*apps: AppHealthState) -> HealthStates:
    return HealthStates(apps=list(apps), at=NOW)


def held(state: str, since: float = LONG_AGO, release: str = "r1", **kw: object) -> AppHealthState:
    return AppHealthState(app_id="app", release_id=release, slot="a", state=state, since=since, **kw)  # type: ignore[arg-type]


def test_a_running_app_whose_checks_fail_for_a_while_becomes_unhealthy_with_the_reason() -> None:
    [repair] = missed_transitions(
        {"app": AppView("running", None, "r1")}, states(held("unhealthy", reason="GET / answered 500"))
    )
    assert isinstance(repair, AppUnhealthy)
    assert (repair.release_id, repair.reason, repair.new_episode) == ("r1", "GET / answered 500", False)


def test_the_same_state_gives_the_same_id_so_a_second_pass_records_nothing_new() -> None:
    apps = {"app": AppView("running", None, "r1")}
    first = missed_transitions(apps, states(held("unhealthy")))
    second = missed_transitions(apps, states(held("unhealthy")))
    assert [r.id for r in first] == [r.id for r in second]


def test_an_unhealthy_app_whose_checks_pass_again_recovers() -> None:
    [repair] = missed_transitions({"app": AppView("unhealthy", "health check failing", "r1")}, states(held("healthy")))
    assert isinstance(repair, AppRecovered)


def test_given_up_is_repaired_once_its_reason_is_missing() -> None:
    gave_up = held("unhealthy", gave_up=True, restarts=3, episode_since=LONG_AGO - 60)
    [repair] = missed_transitions({"app": AppView("unhealthy", "health check failing", "r1")}, states(gave_up))
    assert isinstance(repair, RestartsExhausted)
    assert (repair.restarts, repair.unhealthy_seconds) == (3, 180.0)
    already = AppView("unhealthy", "unhealthy for 180s after 3 automatic restart(s)", "r1")
    assert missed_transitions({"app": already}, states(gave_up)) == []


def test_nothing_is_repaired_while_the_state_is_fresh_for_another_release_or_agrees() -> None:
    running = {"app": AppView("running", None, "r1")}
    assert missed_transitions(running, states(held("unhealthy", since=JUST_NOW))) == []
    assert missed_transitions(running, states(held("unhealthy", release="r0"))) == []
    assert missed_transitions(running, states(held("healthy"))) == []
    assert missed_transitions({"app": AppView("deploying", None, "r1")}, states(held("unhealthy"))) == []
    assert missed_transitions({}, states(held("unhealthy"))) == []
