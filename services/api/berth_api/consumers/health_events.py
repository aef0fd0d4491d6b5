"""Applies the health service's transitions to apps: status ``unhealthy``/``running``, the app's
history (``app_events``), and automatic restarts (a zero-downtime flip, as ``POST .../restart``)
when the health service says the app has been unhealthy longer than its window. The health
service decides *when*; the API only acts, idempotently (each event id is applied once)."""

from __future__ import annotations

import logging
import uuid

from berth_shared.contracts.health import (
    AppRecovered,
    AppUnhealthy,
    HealthEvent,
    RestartRequested,
    RestartsExhausted,
)
from berth_shared.db import Connection

from berth_api import app_status, app_status_store, apps_store, health_outcomes, history_store
from berth_api.history_store import HistoryEntry

log = logging.getLogger("berth.api.health")


async def apply(conn: Connection, event: HealthEvent, host: str) -> None:
    try:
        app_id = uuid.UUID(event.app_id)
    except ValueError:
        return
    async with conn.transaction():
        match event:
            case AppUnhealthy():
                await health_outcomes.unhealthy(conn, event)
            case AppRecovered():
                await health_outcomes.recovered(conn, event)
            case RestartRequested():
                detail: dict[str, object] = {
                    "attempt": event.attempt,
                    "maxRestarts": event.max_restarts,
                    "unhealthySeconds": event.unhealthy_seconds,
                }
                app = await app_status_store.locked(conn, app_id)
                if app is None or not app_status.may_restart(app_status.AppFacts.of(app)):
                    return  # deploying, crashed, stopped or gone: nothing to restart now
                if str(app["current_release_id"]) != event.release_id:
                    return  # another release went live since
                current = await apps_store.current_release(conn, app)
                if current is None:
                    return
                if not await history_store.record(
                    conn, HistoryEntry(event.id, event.app_id, event.release_id, "health.restart", detail, event.at)
                ):
                    return
                log.info(
                    "app %s unhealthy for %.0fs: automatic restart %d of %d",
                    app["name"],
                    event.unhealthy_seconds,
                    event.attempt,
                    event.max_restarts,
                    extra={"app_id": event.app_id},
                )
                await apps_store.create_release(conn, str(app_id), apps_store.pinned_image(current), "restart", host)
            case RestartsExhausted():
                await health_outcomes.gave_up(conn, event)
