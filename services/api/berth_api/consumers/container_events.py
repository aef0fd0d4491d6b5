"""Keeps what the runtime agent saw happen to an app's containers in the app's history
(``app_events``), so restarts, their backoff and OOM kills are visible to the user."""

from __future__ import annotations

from berth_shared.contracts.containers import (
    ContainerEvent,
    ContainerExited,
    ContainerOomKilled,
    ContainerStarted,
    ImagePruned,
)
from berth_shared.db import Connection

from berth_api import history_store
from berth_api.history_store import HistoryEntry


def describe(event: ContainerEvent) -> HistoryEntry:
    """The history entry of one container event (pure)."""
    if isinstance(event, ImagePruned):
        detail: dict[str, object] = {"imageId": event.image_id, "refs": event.refs, "reason": event.reason}
        return HistoryEntry(event.id, event.app_id, None, "image.pruned", detail, event.at)
    base: dict[str, object] = {"slot": event.slot, "containerId": event.container_id[:12]}
    base |= {"process": event.process, "index": event.index}  # ADR 0026: which process and instance
    if event.run_id:
        base["runId"] = event.run_id
    match event:
        case ContainerStarted():
            kind, detail = "container.started", base
        case ContainerExited():
            kind, detail = "container.exited", {**base, "exitCode": event.exit_code, "expected": event.expected}
        case ContainerOomKilled():
            kind, detail = "container.oom_killed", base
    return HistoryEntry(event.id, event.app_id, event.release_id, kind, detail, event.at)


async def record(conn: Connection, event: ContainerEvent) -> None:
    await history_store.record(conn, describe(event))
