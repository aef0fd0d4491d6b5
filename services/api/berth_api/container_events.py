"""Keeps what the runtime agent saw happen to an app's containers in the app's history
(``app_events``), so restarts, their backoff and OOM kills are visible to the user."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from berth_shared.contracts.containers import (
    ContainerEvent,
    ContainerExited,
    ContainerOomKilled,
    ContainerStarted,
    ImagePruned,
)
from berth_shared.db import Connection


@dataclass(frozen=True)
class HistoryEntry:
    event_id: str
    app_id: str
    release_id: str | None
    kind: str
    detail: dict[str, object]
    at: datetime


def describe(event: ContainerEvent) -> HistoryEntry:
    """The history entry of one container event (pure)."""
    if isinstance(event, ImagePruned):
        detail: dict[str, object] = {"imageId": event.image_id, "refs": event.refs, "reason": event.reason}
        return HistoryEntry(event.id, event.app_id, None, "image.pruned", detail, event.at)
    base: dict[str, object] = {"slot": event.slot, "containerId": event.container_id[:12]}
    match event:
        case ContainerStarted():
            kind, detail = "container.started", base
        case ContainerExited():
            kind, detail = "container.exited", {**base, "exitCode": event.exit_code, "expected": event.expected}
        case ContainerOomKilled():
            kind, detail = "container.oom_killed", base
    return HistoryEntry(event.id, event.app_id, event.release_id, kind, detail, event.at)


async def record(conn: Connection, event: ContainerEvent) -> None:
    await record_event(conn, describe(event))


async def record_event(conn: Connection, entry: HistoryEntry) -> None:
    """Insert one history entry, once (redeliveries are ignored); unknown apps are ignored."""
    try:
        app_uuid = uuid.UUID(entry.app_id)
        release_uuid = uuid.UUID(entry.release_id) if entry.release_id else None
    except ValueError:
        return
    await conn.execute(
        "INSERT INTO app_events (event_id, app_id, release_id, kind, detail, at) "
        "SELECT $1, $2, $3, $4, $5::jsonb, $6 WHERE EXISTS (SELECT 1 FROM apps WHERE id = $2) "
        "ON CONFLICT (event_id) DO NOTHING",
        entry.event_id,
        app_uuid,
        release_uuid,
        entry.kind,
        json.dumps(entry.detail),
        entry.at,
    )
