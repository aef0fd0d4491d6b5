"""App family: events the API publishes when apps are created, changed or deleted.

Subjects: ``berth.evt.api.app.<event>.<app_id>`` on the BERTH_EVT stream.
Consumers: router (routes), runtime agent (networks), logs and health (cleanup).
"""

from __future__ import annotations

from berth_shared.contracts.base import Message
from berth_shared.contracts.health import HealthCheck


def app_event_subject(event: str, app_id: str) -> str:
    return f"berth.evt.api.app.{event}.{app_id}"


APP_EVENTS = "berth.evt.api.app.>"
APP_DELETED_EVENTS = "berth.evt.api.app.deleted.*"


class AppCreated(Message, kw_only=True):
    app_id: str
    name: str
    hostname: str
    port: int
    subnet: str
    health_path: str = "/"
    # The app's HTTP check (its path is also ``health_path``); None: liveness only.
    health_check: HealthCheck | None = None
    # Custom hostnames attached to the app (besides ``hostname``), routed to the same slots.
    domains: list[str] = []


class AppUpdated(Message, kw_only=True):
    """Anything the router or agent must know changed (port, health path, hostnames)."""

    app_id: str
    name: str
    hostname: str
    port: int
    subnet: str
    health_path: str = "/"
    # The app's HTTP check (its path is also ``health_path``); None: liveness only.
    health_check: HealthCheck | None = None
    # Custom hostnames attached to the app (besides ``hostname``), routed to the same slots.
    domains: list[str] = []


class AppDeleted(Message, kw_only=True):
    app_id: str
    name: str
    hostname: str
    subnet: str


AppEvent = AppCreated | AppUpdated | AppDeleted
