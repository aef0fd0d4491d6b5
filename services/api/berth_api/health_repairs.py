"""Which health transitions the API missed, decided from the health service's states (pure).

The API's app status follows the health service's events (``AppUnhealthy``, ``AppRecovered``,
``RestartsExhausted``). If one is lost, the app reads ``running`` while its checks fail, or
``unhealthy`` after it recovered, until the next transition. So the API reads its apps, *then*
asks the health service for every app's current state (``berth.rpc.health.states.list``), and
applies the transitions this module names through the code its consumer uses (ADR 0018).

A state counts only once it is older than a grace (its own event, if not lost, has arrived by
then), and only for the release the API has live. Each repair's id is derived from the state
it repairs, so a second pass over the same state records nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from berth_shared.contracts.health import AppHealthState, AppRecovered, AppUnhealthy, HealthStates, RestartsExhausted

from berth_api.app_status import GAVE_UP_PREFIX

# How old a state must be before its transition counts as lost.
HEALTH_GRACE = timedelta(seconds=30)

Repair = AppUnhealthy | AppRecovered | RestartsExhausted


@dataclass(frozen=True)
class AppView:
    """What the API recorded of an app, read before asking the health service."""

    status: str
    reason: str | None = None
    current_release: str | None = None


def missed_transitions(
    apps: Mapping[str, AppView], states: HealthStates, grace: timedelta = HEALTH_GRACE
) -> list[Repair]:
    now = states.at.timestamp()
    repairs: list[Repair] = []
    for held in states.apps:
        app = apps.get(held.app_id)
        if app is None or not held.release_id or held.release_id != app.current_release:
            continue
        if now - held.since < grace.total_seconds():
            continue
        repair = _repair(app, held, now)
        if repair is not None:
            repairs.append(repair)
    return repairs


def _repair(app: AppView, held: AppHealthState, now: float) -> Repair | None:
    key = f"resync.{held.app_id}.{held.release_id}.{held.state}.{held.since:.6f}"
    if held.state == "unhealthy" and held.gave_up:
        if app.status in ("running", "unhealthy") and not (app.reason or "").startswith(GAVE_UP_PREFIX):
            return RestartsExhausted(
                id=f"{key}.gave_up",
                app_id=held.app_id,
                release_id=held.release_id,
                restarts=held.restarts,
                unhealthy_seconds=round(now - (held.episode_since or held.since), 1),
            )
        return None
    if held.state == "unhealthy" and app.status == "running":
        return AppUnhealthy(
            id=key,
            app_id=held.app_id,
            release_id=held.release_id,
            slot=held.slot,
            reason=held.reason,
            consecutive_failures=held.consecutive_failures,
            new_episode=False,
        )
    if held.state == "healthy" and app.status == "unhealthy":
        return AppRecovered(id=key, app_id=held.app_id, release_id=held.release_id, slot=held.slot)
    return None
