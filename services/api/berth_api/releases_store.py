"""Release outcomes that more than one part of the API records (the agent's events, and the
resync from the agent's state when an event was lost, ADR 0018): a release that went live; a
release that failed (the agent reported it, or its desired state cannot be stated) gives the
app back to the release that still serves; a deleted app the agent cleaned up is forgotten."""

from __future__ import annotations

import uuid

from berth_shared.contracts.releases import AppCleanedUp, ReleaseFailed, ReleaseLive
from berth_shared.db import Connection

from berth_api import app_status, app_status_store


async def fail(conn: Connection, e: ReleaseFailed) -> None:
    """Mark the release failed (only from pending/starting: a redelivery changes nothing); if it
    was the app's desired release, the previous live release keeps serving and is desired again.
    Call inside a transaction."""
    release_id, app_id = uuid.UUID(e.release_id), uuid.UUID(e.app_id)
    updated = await conn.fetchval(
        "UPDATE releases SET status = 'failed', reason = $2, finished_at = $3 "
        "WHERE id = $1 AND status IN ('pending', 'starting') RETURNING id",
        release_id,
        e.reason,
        e.at,
    )
    if updated is None:
        return
    app = await app_status_store.locked(conn, app_id)
    if app is None or await app_status_store.move(conn, app, app_status.Failed(str(release_id), e.reason)) is None:
        return  # not the desired release (a newer one is), or the app is gone
    await conn.execute(
        "UPDATE apps SET desired_release_id = current_release_id, generation = generation + 1 WHERE id = $1", app_id
    )


async def go_live(conn: Connection, e: ReleaseLive) -> None:
    """The release is live (only from pending/starting: a redelivery changes nothing); the one
    live before it is superseded and the app points at it. Of a release already live (a scale):
    its web addresses. Call inside a transaction."""
    release_id, app_id = uuid.UUID(e.release_id), uuid.UUID(e.app_id)
    updated = await conn.fetchval(
        "UPDATE releases SET status = 'live', live_at = $2, slot = $3, "
        "image_digest = coalesce(nullif($4, ''), image_digest), started_at = coalesce(started_at, $2), reason = NULL, "
        "addresses = $5, no_instances = $6 WHERE id = $1 AND status IN ('pending', 'starting') RETURNING id",
        release_id,
        e.at,
        e.slot,
        e.image_digest,
        list(e.addresses),
        e.no_instances,
    )
    if updated is None:
        # The live release at other web addresses, or with none (a scale in place, ADR 0026):
        # where it serves now, for the health service's resync; nothing else changes (it is no
        # new deploy).
        await conn.execute(
            "UPDATE releases SET addresses = $2, no_instances = $3 WHERE id = $1 AND status = 'live'",
            release_id,
            list(e.addresses),
            e.no_instances,
        )
        return
    await conn.execute(
        "UPDATE releases SET status = 'superseded', finished_at = $3 "
        "WHERE app_id = $1 AND id <> $2 AND status = 'live'",
        app_id,
        release_id,
        e.at,
    )
    app = await app_status_store.locked(conn, app_id)
    if app is None or app["deleted_at"] is not None:
        return
    await conn.execute(
        "UPDATE apps SET current_release_id = $2, crashed_processes = '{}' WHERE id = $1", app_id, release_id
    )
    await app_status_store.move(conn, app, app_status.Live(str(release_id)), e.at)


async def forget_cleaned_up(conn: Connection, e: AppCleanedUp) -> None:
    """The agent removed a deleted app's containers and network: its row goes (and with it its
    subnet). An app not deleted is kept."""
    await conn.execute("DELETE FROM apps WHERE id = $1 AND deleted_at IS NOT NULL", uuid.UUID(e.app_id))
