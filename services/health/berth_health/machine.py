"""The health state machine (pure): thresholds, start period, transitions, and when to ask for a
restart. Times are wall-clock seconds (``time.time()``) so a state survives a service restart.

- ``starting``: a release went live and has not passed ``healthy_threshold`` checks yet;
  failures are ignored for ``start_period_seconds`` after it went live (like Docker's).
- ``healthy`` after ``healthy_threshold`` consecutive passes; ``unhealthy`` after
  ``unhealthy_threshold`` consecutive failures. Only these changes are transitions.
- An *episode* is the time from the first ``unhealthy`` to the next ``healthy``. It survives
  a restart (a new release of the same app), so a still-sick app after a restart repeats the
  episode (``new_episode=False``: no second alert) and counts against ``max_restarts``.
- Restarts: unhealthy for ``restart_after_seconds`` (since it became unhealthy, or since the
  last restart request) → ask for a restart, at most ``max_restarts`` per episode, then give up
  once and stay unhealthy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from berth_shared.contracts.health import HealthCheck

State = Literal["unknown", "starting", "healthy", "unhealthy"]

# How long a requested restart may take to go live (or fail) before it is asked for again.
AWAIT_RESTART_SECONDS = 600.0


@dataclass(frozen=True)
class HealthState:
    state: State = "unknown"
    since: float = 0.0
    reason: str = ""
    ok_streak: int = 0
    fail_streak: int = 0
    live_since: float = 0.0
    episode_since: float | None = None
    restarts: int = 0
    last_restart_at: float | None = None
    gave_up: bool = False
    # A restart was requested and its release has not gone live (or failed) yet.
    awaiting_restart: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> HealthState:
        if not data:
            return cls()
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class Transition:
    kind: Literal["unhealthy", "recovered"]
    reason: str = ""
    new_episode: bool = True
    consecutive_failures: int = 0
    unhealthy_seconds: float = 0.0


@dataclass(frozen=True)
class Action:
    kind: Literal["restart", "give_up"]
    attempt: int
    unhealthy_seconds: float


def went_live(s: HealthState, now: float) -> HealthState:
    """A (new) release went live: its checks start over; an open episode stays open."""
    return replace(
        s, state="starting", since=now, reason="", ok_streak=0, fail_streak=0, live_since=now, awaiting_restart=False
    )


def restart_failed(s: HealthState) -> HealthState:
    """The requested restart's release failed: the old one keeps serving; the window runs on."""
    return replace(s, awaiting_restart=False)


def in_start_period(s: HealthState, check: HealthCheck, now: float) -> bool:
    return s.state == "starting" and now < s.live_since + check.start_period_seconds


def observe(
    s: HealthState, check: HealthCheck, ok: bool, reason: str, now: float
) -> tuple[HealthState, Transition | None]:
    """Apply one check result."""
    if ok:
        s = replace(s, ok_streak=s.ok_streak + 1, fail_streak=0)
        if s.state == "healthy" or s.ok_streak < check.healthy_threshold:
            return s, None
        episode = s.episode_since
        s = replace(
            s,
            state="healthy",
            since=now,
            reason="",
            episode_since=None,
            restarts=0,
            last_restart_at=None,
            gave_up=False,
        )
        if episode is None:
            return s, None
        return s, Transition("recovered", unhealthy_seconds=max(0.0, now - episode))
    if in_start_period(s, check, now):
        return replace(s, ok_streak=0, reason=reason), None
    s = replace(s, ok_streak=0, fail_streak=s.fail_streak + 1, reason=reason)
    if s.state == "unhealthy" or s.fail_streak < check.unhealthy_threshold:
        return s, None
    new_episode = s.episode_since is None
    s = replace(s, state="unhealthy", since=now, episode_since=now if new_episode else s.episode_since)
    return s, Transition("unhealthy", reason=reason, new_episode=new_episode, consecutive_failures=s.fail_streak)


def due_action(s: HealthState, check: HealthCheck, now: float) -> Action | None:
    """Is it time to ask for a restart (or to give up)? None while there is nothing to do."""
    if s.state != "unhealthy" or s.gave_up:
        return None
    if s.awaiting_restart and now - (s.last_restart_at or 0.0) < AWAIT_RESTART_SECONDS:
        return None  # the restart is still rolling out (or was not acted on: ask again later)
    reference = max(s.since, s.last_restart_at or s.since)
    if now - reference < check.restart_after_seconds:
        return None
    unhealthy_for = now - (s.episode_since if s.episode_since is not None else s.since)
    if s.restarts >= check.max_restarts:
        return Action("give_up", s.restarts, unhealthy_for)
    return Action("restart", s.restarts + 1, unhealthy_for)


def acted(s: HealthState, action: Action, now: float) -> HealthState:
    if action.kind == "give_up":
        return replace(s, gave_up=True)
    return replace(s, restarts=action.attempt, last_restart_at=now, awaiting_restart=True)


def liveness(s: HealthState, running: bool, reason: str, now: float) -> tuple[HealthState, Transition | None]:
    """Apps without a check: healthy while the live container runs, unhealthy when it stopped."""
    return observe(s, LIVENESS, running, reason, now)


LIVENESS = HealthCheck(healthy_threshold=1, unhealthy_threshold=1, start_period_seconds=0)
