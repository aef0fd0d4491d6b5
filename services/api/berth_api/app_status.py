"""An app's status and its reason (pure): the one place that decides which event moves an app
where. Writers (``apps_store``, ``releases_store``, the consumers) read the app's row locked,
ask :func:`transition`, and write what it answers (``app_status_store.move`` does both).

Event → status (reason; ``lastDeployedAt``), and when it applies:

- ``ReleaseRequested`` (deploy, restart, rollback, config, build) → ``deploying`` (none; kept).
- ``Deleted`` → ``stopped`` (kept; kept).
- ``FirstServing`` (its ``health.passed`` step: from then on the proxy serves it) → ``running``
  (none; now), when ``deploying``, the release is desired and nothing is live yet.
- ``Live`` (``ReleaseLive``) → ``running`` if the release is desired, else unchanged (none;
  now, or kept when ``FirstServing`` set it).
- ``Failed`` (``ReleaseFailed``, or its env cannot be decrypted) → ``running`` when a release
  is live, else ``created`` (``release failed: …``; kept, cleared with nothing live), when the
  release is the desired one.
- ``Crashed`` (``AppCrashed``) → ``crashed`` (the engine's refusal, or the exit code and
  restarts; kept), when the release is the live one. A crashed process other than ``web``
  (ADR 0026) leaves the status as it is (web keeps serving) and names the process in the
  reason, unless the app itself is ``crashed``.
- ``Unhealthy`` (``AppUnhealthy``) → ``unhealthy`` (``health check failing: …``, but a
  gave-up reason stays; kept), from ``running``/``unhealthy`` when the release is live (or
  none is named).
- ``Recovered`` (``AppRecovered``) → ``running`` (none; kept), from ``unhealthy``.
- ``RestartsExhausted`` → ``unhealthy`` (``unhealthy for Ns after N automatic restart(s)…``;
  kept), from ``running``/``unhealthy``.

A deleted app moves no more (but for ``Deleted`` itself). Anything else: no change (``None``),
which is also what makes a redelivered event harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

Status = Literal["created", "deploying", "running", "unhealthy", "crashed", "stopped"]
# What happens to ``last_deployed_at``: left as it is, set to the event's time, or cleared.
Deployed = Literal["keep", "now", "clear"]

# Statuses in which health transitions (and automatic restarts) apply: never while a release
# is deploying, after Berth stopped restarting a crashed app, or once it is stopped.
HEALTH_STATUSES: tuple[Status, ...] = ("running", "unhealthy")
GAVE_UP_PREFIX = "unhealthy for "


class Row(Protocol):
    """An ``apps`` row (an asyncpg Record, or a dict in tests)."""

    def __getitem__(self, key: str, /) -> Any: ...


@dataclass(frozen=True)
class AppFacts:
    """What a transition reads of an app (release ids as strings)."""

    status: Status
    reason: str | None = None
    desired_release: str | None = None
    current_release: str | None = None
    deployed: bool = False  # lastDeployedAt is set
    deleted: bool = False

    @classmethod
    def of(cls, row: Row) -> AppFacts:
        """The facts of an ``apps`` row."""
        desired, current = row["desired_release_id"], row["current_release_id"]
        return cls(
            status=row["status"],
            reason=row["status_reason"],
            desired_release=str(desired) if desired is not None else None,
            current_release=str(current) if current is not None else None,
            deployed=row["last_deployed_at"] is not None,
            deleted=row["deleted_at"] is not None,
        )


@dataclass(frozen=True)
class ReleaseRequested:
    """A new release became the app's desired one."""


@dataclass(frozen=True)
class Deleted:
    pass


@dataclass(frozen=True)
class FirstServing:
    """The release passed its gate (``health.passed``): from now on the proxy serves it."""

    release: str


@dataclass(frozen=True)
class Live:
    release: str


@dataclass(frozen=True)
class Failed:
    release: str
    reason: str


@dataclass(frozen=True)
class Crashed:
    release: str
    exit_code: int
    restarts: int
    engine_reason: str = ""  # the engine refused to start it again
    process: str = "web"


@dataclass(frozen=True)
class Unhealthy:
    release: str  # "" when the health service names none
    reason: str


@dataclass(frozen=True)
class Recovered:
    pass


@dataclass(frozen=True)
class RestartsExhausted:
    restarts: int
    unhealthy_seconds: float


Event = ReleaseRequested | Deleted | FirstServing | Live | Failed | Crashed | Unhealthy | Recovered | RestartsExhausted


@dataclass(frozen=True)
class Change:
    status: Status
    reason: str | None = None
    deployed: Deployed = "keep"


def may_restart(app: AppFacts) -> bool:
    """Whether an automatic restart asked for by the health service may run now."""
    return not app.deleted and app.status in HEALTH_STATUSES


def transition(app: AppFacts, event: Event) -> Change | None:
    """What ``event`` does to ``app``: its new status, reason and deploy time; None: nothing."""
    if isinstance(event, Deleted):
        return Change("stopped", app.reason)
    if app.deleted:
        return None
    match event:
        case ReleaseRequested():
            return Change("deploying")
        case FirstServing(release=release):
            first = app.status == "deploying" and app.desired_release == release and app.current_release is None
            return Change("running", deployed="now") if first else None
        case Live(release=release):
            return _live(app, release)
        case Failed(release=release, reason=reason):
            if app.desired_release != release:
                return None
            if app.current_release is None:
                return Change("created", f"release failed: {reason}", deployed="clear")
            return Change("running", f"release failed: {reason}")
        case Crashed():
            if app.current_release != event.release:
                return None
            if event.process != "web":
                return None if app.status == "crashed" else Change(app.status, _crash_reason(event))
            return Change("crashed", _crash_reason(event))
        case Unhealthy(release=release, reason=reason):
            if app.status not in HEALTH_STATUSES or release not in ("", app.current_release):
                return None
            gave_up = app.status == "unhealthy" and (app.reason or "").startswith(GAVE_UP_PREFIX)
            return Change("unhealthy", app.reason if gave_up else f"health check failing: {reason}")
        case Recovered():
            return Change("running") if app.status == "unhealthy" else None
        case RestartsExhausted():
            if app.status not in HEALTH_STATUSES:
                return None
            return Change(
                "unhealthy",
                f"{GAVE_UP_PREFIX}{event.unhealthy_seconds:.0f}s after {event.restarts} automatic restart(s); "
                "Berth stopped restarting it (fix the app, then deploy or restart it)",
            )
    return None


def _live(app: AppFacts, release: str) -> Change:
    desired = app.desired_release == release
    # A first release already read ``running`` from the moment it served (FirstServing).
    served_first = app.current_release is None and desired and app.status == "running" and app.deployed
    return Change("running" if desired else app.status, None, "keep" if served_first else "now")


def _crash_reason(event: Crashed) -> str:
    """Why the app (or, for a process other than web, which process of it) stopped."""
    who = "" if event.process == "web" else f"process {event.process} crashed: "
    if event.engine_reason:
        return f"{who}{event.engine_reason}; Berth stopped trying"
    return f"{who}exited with code {event.exit_code} after {event.restarts} restarts; Berth stopped restarting it"
