"""Writes an app's status: reads the app's row locked, asks :mod:`berth_api.app_status` what an
event does to it, and stores the answer. The only code that writes ``apps.status``,
``apps.status_reason`` and ``apps.last_deployed_at``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
from berth_shared.db import Connection

from berth_api import app_status


async def locked(conn: Connection, app_id: uuid.UUID) -> asyncpg.Record | None:
    """The app's row (deleted or not), locked until the transaction ends; None if there is none."""
    row: asyncpg.Record | None = await conn.fetchrow("SELECT * FROM apps WHERE id = $1 FOR UPDATE", app_id)
    return row


async def move(
    conn: Connection, app: asyncpg.Record, event: app_status.Event, at: datetime | None = None
) -> asyncpg.Record | None:
    """Apply ``event`` to ``app`` (its row, locked in this transaction): the updated row, or
    None when the event changes nothing. ``at``: when it happened (a deploy time it sets)."""
    change = app_status.transition(app_status.AppFacts.of(app), event)
    if change is None:
        return None
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE apps SET status = $2, status_reason = $3, last_deployed_at = CASE $4::text "
        "WHEN 'now' THEN $5 WHEN 'clear' THEN NULL ELSE last_deployed_at END WHERE id = $1 RETURNING *",
        app["id"],
        change.status,
        change.reason,
        change.deployed,
        at or datetime.now(UTC),
    )
    return row
