"""Where log collection stands per container and stream (``agent.log_cursors``).

A row is written after every acked flush: the ``(ts_raw, seq)`` of the stream's last published
line (``seq`` -1: "before every line of that timestamp"). Rows are scoped by instance and host;
an agent removes only its own, when their container is gone.
"""

from __future__ import annotations

import asyncpg

from berth_agent.logs.decide_frames import Position

MIGRATION_LOG_CURSORS = """
CREATE TABLE log_cursors (
    instance text NOT NULL,
    host text NOT NULL,
    container_id text NOT NULL,
    stream text NOT NULL,
    app_id text NOT NULL,
    ts_raw text NOT NULL,
    seq int NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance, host, container_id, stream)
);
CREATE INDEX log_cursors_app ON log_cursors (instance, host, app_id);
"""


class CursorStore:
    def __init__(self, pool: asyncpg.Pool, instance: str, host: str) -> None:
        self._pool = pool
        self._instance = instance
        self._host = host

    async def load(self, container_id: str) -> dict[str, Position]:
        rows = await self._pool.fetch(
            "SELECT stream, ts_raw, seq FROM log_cursors WHERE instance = $1 AND host = $2 AND container_id = $3",
            self._instance,
            self._host,
            container_id,
        )
        return {r["stream"]: Position.of(r["ts_raw"], r["seq"]) for r in rows}

    async def save(self, container_id: str, app_id: str, cursors: dict[str, Position]) -> None:
        streams = sorted(cursors)
        await self._pool.execute(
            "INSERT INTO log_cursors (instance, host, container_id, stream, app_id, ts_raw, seq) "
            "SELECT $1, $2, $3, s, $4, t, q FROM unnest($5::text[], $6::text[], $7::int[]) AS x(s, t, q) "
            "ON CONFLICT (instance, host, container_id, stream) "
            "DO UPDATE SET ts_raw = EXCLUDED.ts_raw, seq = EXCLUDED.seq, updated_at = now()",
            self._instance,
            self._host,
            container_id,
            app_id,
            streams,
            [cursors[s].ts for s in streams],
            [cursors[s].seq for s in streams],
        )

    async def containers(self) -> set[str]:
        rows = await self._pool.fetch(
            "SELECT DISTINCT container_id FROM log_cursors WHERE instance = $1 AND host = $2",
            self._instance,
            self._host,
        )
        return {r["container_id"] for r in rows}

    async def forget(self, container_ids: list[str]) -> None:
        if container_ids:
            await self._pool.execute(
                "DELETE FROM log_cursors WHERE instance = $1 AND host = $2 AND container_id = ANY($3::text[])",
                self._instance,
                self._host,
                container_ids,
            )

    async def forget_app(self, app_id: str) -> None:
        await self._pool.execute(
            "DELETE FROM log_cursors WHERE instance = $1 AND host = $2 AND app_id = $3",
            self._instance,
            self._host,
            app_id,
        )
