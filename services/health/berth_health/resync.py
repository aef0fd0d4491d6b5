"""What a resync from the API's app list changes in the health service: a pure decision (ADR 0018).

``held`` (the ``apps`` table) is read before the list was requested, so an app held but missing
from the list was deleted (its AppDeleted was lost): its target and state go (its check history
too, through ``berth_shared.app_cleanup``). An app the list has that is not configured here, or
configured differently, lost an AppCreated/AppUpdated; one whose live release the API recorded
later than the one held (or none held) lost a ReleaseLive, and so did one whose live release is
held at other web addresses (or with or without web instances) than the API recorded (ADR 0026 §2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from berth_shared.contracts.health import HealthCheck
from berth_shared.contracts.owner_state import AppFacts
from berth_shared.resync import stale_apps


@dataclass(frozen=True)
class HeldApp:
    """One row of the ``apps`` table."""

    app_id: str
    configured: bool = False
    name: str | None = None
    subnet: str | None = None
    port: int | None = None
    health_check: HealthCheck | None = None
    release_id: str | None = None
    slot: str | None = None
    live_at: datetime | None = None
    addresses: tuple[str, ...] = ()  # the live slot's web instances (empty: its fixed address)
    no_instances: bool = False  # the live release runs no web instance: not checked


@dataclass(frozen=True)
class HealthResync:
    configure: tuple[AppFacts, ...] = ()
    went_live: tuple[AppFacts, ...] = ()
    removals: tuple[str, ...] = ()

    @property
    def changes(self) -> bool:
        return bool(self.configure or self.went_live or self.removals)


def _config_differs(held: HeldApp | None, app: AppFacts) -> bool:
    if held is None or not held.configured:
        return True
    return (held.name, held.subnet, held.port, held.health_check) != (
        app.name,
        app.subnet,
        app.port,
        app.health_check,
    )


def _live_is_newer(held: HeldApp | None, app: AppFacts) -> bool:
    live = app.live
    if live is None:
        return False
    if held is None or held.release_id is None or held.live_at is None:
        return True
    if (held.release_id, held.slot) == (live.release_id, live.slot):
        # scaled: the same release at other addresses, or with none
        return (held.addresses, held.no_instances) != (tuple(live.addresses), live.no_instances)
    return live.live_at > held.live_at


def health_resync(held: Mapping[str, HeldApp], owner: Sequence[AppFacts]) -> HealthResync:
    configure = tuple(app for app in owner if _config_differs(held.get(app.app_id), app))
    went_live = tuple(app for app in owner if _live_is_newer(held.get(app.app_id), app))
    return HealthResync(configure=configure, went_live=went_live, removals=stale_apps(held, owner))
