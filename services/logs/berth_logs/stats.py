"""Per-app log counters (``counters``, kept by the ingester): lines stored, lines the agent
dropped over the app's budget, and gaps lost to the engine's log rotation. Answered over
``berth.rpc.logs.stats`` for the API's ``GET /api/apps/{id}/logs/stats``."""

from __future__ import annotations

from typing import Any

from berth_shared.contracts.base import decode
from berth_shared.contracts.logs import GetLogStats, LogStats


async def get(pool: Any, data: bytes) -> LogStats:
    req = decode(data, GetLogStats)
    row = await pool.fetchrow("SELECT stored, dropped, lost_gaps FROM counters WHERE app_id = $1", req.app_id)
    if row is None:
        return LogStats(app_id=req.app_id)
    return LogStats(
        app_id=req.app_id, stored_lines=row["stored"], dropped_lines=row["dropped"], lost_gaps=row["lost_gaps"]
    )
