"""What an app event means for the routes table: a pure decision, checked before it is stored.

An event that could never be rendered (a bad subnet, port or path) is poison: storing it
would break the config of every app, so it is refused instead.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime

from berth_shared.contracts.apps import AppCreated, AppDeleted, AppEvent, AppUpdated
from berth_shared.contracts.owner_state import AppFacts

from berth_router.caddy_config import Route

# Slot b is the subnet's fourth address, so an app subnet holds at least four addresses.
MAX_APP_PREFIX = 30
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


class InvalidRoute(ValueError):
    """The event describes a route Caddy could not serve."""


@dataclass(frozen=True)
class Upsert:
    route: Route
    at: datetime


@dataclass(frozen=True)
class Remove:
    app_id: str
    at: datetime


RouteChange = Upsert | Remove


def route_change(event: AppEvent) -> RouteChange:
    if isinstance(event, AppDeleted):
        return Remove(app_id=event.app_id, at=event.at)
    return Upsert(route=route_of(event), at=event.at)


def route_of(event: AppCreated | AppUpdated | AppFacts) -> Route:
    route = Route(
        app_id=event.app_id,
        name=event.name,
        hostname=event.hostname.lower().rstrip("."),
        port=event.port,
        subnet=event.subnet,
        health_path=event.health_path,
        expect_status=event.health_check.expected_status if event.health_check else 0,
        domains=tuple(sorted({d.lower().rstrip(".") for d in event.domains})),
    )
    check_route(route)
    return route


def check_route(route: Route) -> None:
    if not route.app_id:
        raise InvalidRoute("app_id is empty")
    if not _HOSTNAME.match(route.hostname):
        raise InvalidRoute(f"hostname {route.hostname!r} is not a valid host name")
    for domain in route.domains:
        if not _HOSTNAME.match(domain):
            raise InvalidRoute(f"domain {domain!r} is not a valid host name")
    if not 1 <= route.port <= 65535:
        raise InvalidRoute(f"port {route.port} is out of range")
    try:
        subnet = ipaddress.IPv4Network(route.subnet)
    except ValueError as exc:
        raise InvalidRoute(f"subnet {route.subnet!r}: {exc}") from None
    if subnet.prefixlen > MAX_APP_PREFIX:
        raise InvalidRoute(f"subnet {route.subnet} is too small for two slots")
    if not route.health_path.startswith("/") or any(c.isspace() for c in route.health_path):
        raise InvalidRoute(f"health path {route.health_path!r} must be an absolute path without spaces")
