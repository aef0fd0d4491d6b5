"""Versioned migrations of the logs service's own schema (applied in order by berth_shared.db.migrate)."""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE lines (
        id         bigserial PRIMARY KEY,
        app_id     text NOT NULL,
        release_id text NOT NULL,
        stream     text NOT NULL,
        ts         timestamptz NOT NULL,
        message    text NOT NULL
    );
    CREATE INDEX lines_app_id_ts ON lines (app_id, ts);
    """,
)
