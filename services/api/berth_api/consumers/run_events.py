"""Applies the agent's run reports (``api-run-events``) to the ``runs`` rows. Idempotent: a run
moves only forward (pending -> running -> its outcome), so a redelivery changes nothing."""

from __future__ import annotations

from berth_shared.contracts.runs import RunEvent, RunFinished, RunStarted
from berth_shared.db import Connection

from berth_api import runs_store


async def apply(conn: Connection, event: RunEvent) -> None:
    async with conn.transaction():
        match event:
            case RunStarted():
                await runs_store.started(conn, event, event.at)
            case RunFinished():
                await runs_store.finished(conn, event, event.at)
