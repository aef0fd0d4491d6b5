"""The health service's transitions applied to an app: the history entry (once per event id)
and the status move. Shared by the health-event consumer and the resync from the health
service's state (ADR 0018), so both record and move the same way. Call inside a transaction."""

from __future__ import annotations

import uuid

from berth_shared.contracts.health import AppRecovered, AppUnhealthy, RestartsExhausted
from berth_shared.db import Connection

from berth_api import app_status, app_status_store, history_store
from berth_api.history_store import HistoryEntry


async def unhealthy(conn: Connection, event: AppUnhealthy) -> None:
    detail: dict[str, object] = {
        "reason": event.reason,
        "slot": event.slot,
        "consecutiveFailures": event.consecutive_failures,
        "livenessOnly": event.liveness_only,
    }
    entry = HistoryEntry(event.id, event.app_id, event.release_id, "health.unhealthy", detail, event.at)
    if await history_store.record(conn, entry):
        await _move(conn, event.app_id, app_status.Unhealthy(event.release_id, event.reason))


async def recovered(conn: Connection, event: AppRecovered) -> None:
    detail: dict[str, object] = {"slot": event.slot, "unhealthySeconds": event.unhealthy_seconds}
    entry = HistoryEntry(event.id, event.app_id, event.release_id, "health.recovered", detail, event.at)
    if await history_store.record(conn, entry):
        await _move(conn, event.app_id, app_status.Recovered())


async def gave_up(conn: Connection, event: RestartsExhausted) -> None:
    detail: dict[str, object] = {"restarts": event.restarts, "unhealthySeconds": event.unhealthy_seconds}
    entry = HistoryEntry(event.id, event.app_id, event.release_id, "health.gave_up", detail, event.at)
    if await history_store.record(conn, entry):
        await _move(conn, event.app_id, app_status.RestartsExhausted(event.restarts, event.unhealthy_seconds))


async def _move(conn: Connection, app_id: str, event: app_status.Event) -> None:
    app = await app_status_store.locked(conn, uuid.UUID(app_id))
    if app is not None:
        await app_status_store.move(conn, app, event)
