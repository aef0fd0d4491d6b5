"""Release outcomes that more than one part of the API records: a release that failed (the
agent reported it, or its desired state cannot be stated) gives the app back to the release
that still serves."""

from __future__ import annotations

import uuid

from berth_shared.contracts.releases import ReleaseFailed
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
