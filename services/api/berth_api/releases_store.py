"""Release outcomes that more than one part of the API records: a release that failed (the
agent reported it, or its desired state cannot be stated) gives the app back to the release
that still serves."""

from __future__ import annotations

import uuid

from berth_shared.contracts.releases import ReleaseFailed
from berth_shared.db import Connection


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
    await conn.execute(
        "UPDATE apps SET desired_release_id = current_release_id, generation = generation + 1, "
        "status = CASE WHEN current_release_id IS NULL THEN 'created' ELSE 'running' END, "
        "last_deployed_at = CASE WHEN current_release_id IS NULL THEN NULL ELSE last_deployed_at END, "
        "status_reason = $3 "
        "WHERE id = $1 AND desired_release_id = $2 AND deleted_at IS NULL",
        app_id,
        release_id,
        f"release failed: {e.reason}",
    )
