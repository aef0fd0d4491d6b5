"""What a resync from the API's app list changes in the routes table: a pure decision (ADR 0018).

``held`` is read before the list was requested, so a held route whose app is missing from the
list belongs to a deleted app (its AppDeleted was lost); an app in the list without a route, or
with a different one, lost its AppCreated or AppUpdated. An app whose facts could never be
rendered is left as it is and reported, as its event would have been refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from berth_shared.contracts.owner_state import AppFacts
from berth_shared.resync import stale_apps

from berth_router.caddy_config import Route
from berth_router.route_changes import InvalidRoute, route_of


@dataclass(frozen=True)
class RouteResync:
    upserts: tuple[Route, ...] = ()
    removals: tuple[str, ...] = ()
    # (app id, why its route cannot be rendered)
    invalid: tuple[tuple[str, str], ...] = ()

    @property
    def changes(self) -> bool:
        return bool(self.upserts or self.removals)


def route_resync(held: Mapping[str, Route], owner: Sequence[AppFacts]) -> RouteResync:
    upserts: list[Route] = []
    invalid: list[tuple[str, str]] = []
    for app in owner:
        try:
            route = route_of(app)
        except InvalidRoute as exc:
            invalid.append((app.app_id, str(exc)))
            continue
        if held.get(app.app_id) != route:
            upserts.append(route)
    return RouteResync(upserts=tuple(upserts), removals=stale_apps(held, owner), invalid=tuple(invalid))
