"""The health state machine: thresholds, start period, transitions once per change, restarts."""

from __future__ import annotations

from berth_health.machine import HealthState, acted, due_action, liveness, observe, went_live
from berth_shared.contracts.health import HealthCheck

CHECK = HealthCheck(
    healthy_threshold=2, unhealthy_threshold=3, start_period_seconds=10, restart_after_seconds=60, max_restarts=2
)


def run(state: HealthState, results: list[bool], start: float, step: float = 1.0) -> tuple[HealthState, list[str]]:
    kinds = []
    for i, ok in enumerate(results):
        state, t = observe(state, CHECK, ok, "" if ok else "HTTP 500", start + i * step)
        if t:
            kinds.append(t.kind)
    return state, kinds


def test_healthy_after_the_healthy_threshold_and_no_transition_for_the_first_healthy() -> None:
    s = went_live(HealthState(), 0)
    s, kinds = run(s, [True], 1)
    assert s.state == "starting"
    s, kinds = run(s, [True], 2)
    assert s.state == "healthy" and kinds == []  # a first "healthy" is not a recovery


def test_failures_in_the_start_period_are_ignored() -> None:
    s = went_live(HealthState(), 0)
    s, kinds = run(s, [False] * 9, 1)
    assert s.state == "starting" and kinds == [] and s.fail_streak == 0
    s, kinds = run(s, [False] * 3, 10)
    assert s.state == "unhealthy" and kinds == ["unhealthy"]


def test_unhealthy_after_threshold_once_per_episode_and_recovered_once() -> None:
    s, _ = run(went_live(HealthState(), 0), [True, True], 1)
    s, kinds = run(s, [False, False], 20)
    assert s.state == "healthy" and kinds == []
    s, kinds = run(s, [False] * 20, 22)
    assert s.state == "unhealthy" and kinds == ["unhealthy"]
    s, kinds = run(s, [True], 50)
    assert s.state == "unhealthy" and kinds == []  # one pass is below the healthy threshold
    s, kinds = run(s, [False, True, True], 51)
    assert s.state == "healthy" and kinds == ["recovered"]


def test_a_pass_resets_the_failure_streak() -> None:
    s, _ = run(went_live(HealthState(), 0), [True, True], 1)
    s, kinds = run(s, [False, False, True, False, False, True], 20)
    assert s.state == "healthy" and kinds == []


def test_restart_after_the_window_at_most_max_restarts_then_give_up_once() -> None:
    s, _ = run(went_live(HealthState(), 0), [True, True], 1)
    s, _ = run(s, [False] * 3, 100)  # unhealthy at t=102
    assert s.state == "unhealthy" and s.since == 102
    assert due_action(s, CHECK, 161) is None
    action = due_action(s, CHECK, 162)
    assert action is not None and action.kind == "restart" and action.attempt == 1
    s = acted(s, action, 162)
    assert due_action(s, CHECK, 200) is None  # the window restarts from the request
    # The restart went live, still sick: the episode continues (no new alert), counts go on.
    s = went_live(s, 170)
    s, t = observe(s, CHECK, False, "HTTP 500", 181)
    s, t = observe(s, CHECK, False, "HTTP 500", 182)
    s, t = observe(s, CHECK, False, "HTTP 500", 183)
    assert t is not None and t.kind == "unhealthy" and not t.new_episode
    action = due_action(s, CHECK, 243)
    assert action is not None and action.attempt == 2
    s = acted(s, action, 243)
    s = went_live(s, 250)
    s, _ = run(s, [False] * 3, 261)
    assert due_action(s, CHECK, 322) is None
    action = due_action(s, CHECK, 323)
    assert action is not None and action.kind == "give_up" and action.attempt == 2
    assert action.unhealthy_seconds == 323 - 102
    s = acted(s, action, 323)
    assert due_action(s, CHECK, 10_000) is None


def test_recovery_ends_the_episode_and_resets_restarts() -> None:
    s, _ = run(went_live(HealthState(), 0), [True, True], 1)
    s, _ = run(s, [False] * 3, 100)
    s = acted(s, due_action(s, CHECK, 200) or _fail(), 200)
    s, kinds = run(s, [True, True], 210)
    assert kinds == ["recovered"] and s.restarts == 0 and s.episode_since is None
    s, kinds = run(s, [False] * 3, 300)
    assert kinds == ["unhealthy"]


def test_liveness_only_follows_the_container() -> None:
    s = went_live(HealthState(), 0)
    s, t = liveness(s, True, "", 1)
    assert s.state == "healthy" and t is None
    s, t = liveness(s, False, "container exited with code 3", 2)
    assert s.state == "unhealthy" and t is not None and t.reason == "container exited with code 3"
    s, t = liveness(s, True, "", 3)
    assert s.state == "healthy" and t is not None and t.kind == "recovered"


def test_state_round_trips_through_json() -> None:
    s, _ = run(went_live(HealthState(), 0), [True, True], 1)
    assert HealthState.from_json(s.to_json()) == s
    assert HealthState.from_json({**s.to_json(), "future_field": 1}) == s
    assert HealthState.from_json(None) == HealthState()


def _fail() -> None:
    raise AssertionError("expected an action")


def test_no_second_restart_while_the_first_is_rolling_out_unless_it_failed() -> None:
    from berth_health.machine import restart_failed

    s, _ = run(went_live(HealthState(), 0), [True, True], 1)
    s, _ = run(s, [False] * 3, 100)
    s = acted(s, due_action(s, CHECK, 162) or _fail(), 162)
    assert due_action(s, CHECK, 300) is None  # still waiting for the restart's release
    s = restart_failed(s)
    action = due_action(s, CHECK, 300)
    assert action is not None and action.kind == "restart" and action.attempt == 2
