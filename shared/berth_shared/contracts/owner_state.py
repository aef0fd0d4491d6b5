"""The owner's state, for services that otherwise learn about apps only from events.

Events can be lost (a message removed from a stream, a consumer recreated past it, a store
restored from an older copy). The router, the logs service and the health service therefore
also ask the API, at start and every :data:`RESYNC_SECONDS`, for every app that exists now, and
repair what they hold (ADR 0018): a route or data of an app the API no longer has is removed,
an app they never heard of is added, a changed one is updated.

Subject: ``berth.rpc.api.apps.list`` (core NATS request/reply, queue group ``api``). Only the
router, logs and health identities may send it; nothing on this path is persisted, and it
carries no secrets (no environment, no tokens).
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from berth_shared.contracts.base import Message
from berth_shared.contracts.health import HealthCheck

APPS_LIST = "berth.rpc.api.apps.list"

# How often each service resyncs (it also does at start).
RESYNC_SECONDS = 60.0


class LiveRelease(msgspec.Struct, kw_only=True):
    """The release the app serves, as the API recorded it from the agent's ``ReleaseLive``."""

    release_id: str
    slot: str
    # The ``at`` of the ReleaseLive event: newer wins against what a service already holds.
    live_at: datetime
    # The web instances' addresses from that ReleaseLive (empty: the slot's fixed address).
    addresses: list[str] = []
    no_instances: bool = False  # as in that ReleaseLive: web at 0, nothing to check


class AppFacts(msgspec.Struct, kw_only=True):
    """One app that exists (not deleted), with what ``AppUpdated`` would say about it now."""

    app_id: str
    name: str
    hostname: str
    port: int
    subnet: str
    health_path: str = "/"
    health_check: HealthCheck | None = None
    domains: list[str] = []
    live: LiveRelease | None = None


class ListApps(Message, kw_only=True):
    # Who asks (for the API's log only).
    requester: str = ""


class AppList(Message, kw_only=True):
    """Every app that exists, read at ``as_of``: an app a service holds from an event received
    before it sent the request, and missing here, has been deleted."""

    apps: list[AppFacts]
    # When the API started reading (before any of the rows): changes the reply reflects happened
    # before it, so it orders the reply against events like an event's ``at``.
    as_of: datetime
