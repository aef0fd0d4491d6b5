"""An app's history (``app_events``): what happened to it — container starts, exits and OOM
kills, crashes, health transitions and restarts, domain and certificate changes, pruned images.
Each entry is written once (keyed by the id of the event it describes) and read newest last."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from berth_shared.db import Connection


@dataclass(frozen=True)
class HistoryEntry:
    event_id: str
    app_id: str
    release_id: str | None
    kind: str
    detail: dict[str, object]
    at: datetime


async def record(conn: Connection, entry: HistoryEntry) -> bool:
    """Insert one entry, once; False when it was recorded before or its app is unknown. A
    release id that is not one is left out of the entry."""
    try:
        app_uuid = uuid.UUID(entry.app_id)
    except ValueError:
        return False
    try:
        release_uuid = uuid.UUID(entry.release_id) if entry.release_id else None
    except ValueError:
        release_uuid = None
    inserted = await conn.fetchval(
        "INSERT INTO app_events (event_id, app_id, release_id, kind, detail, at) "
        "SELECT $1, $2, $3, $4, $5::jsonb, $6 WHERE EXISTS (SELECT 1 FROM apps WHERE id = $2) "
        "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        entry.event_id,
        app_uuid,
        release_uuid,
        entry.kind,
        json.dumps(entry.detail),
        entry.at,
    )
    return inserted is not None


async def recent(conn: Connection | asyncpg.Pool, app_id: uuid.UUID, limit: int) -> list[asyncpg.Record]:
    """The app's newest ``limit`` entries, oldest first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT * FROM (SELECT * FROM app_events WHERE app_id = $1 ORDER BY at DESC LIMIT $2) e ORDER BY at",
        app_id,
        limit,
    )
    return rows
