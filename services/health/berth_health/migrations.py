"""Versioned migrations of the health service's own schema (applied in order by berth_shared.db.migrate)."""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE checks (
        id          bigserial PRIMARY KEY,
        app_id      text NOT NULL,
        release_id  text NOT NULL,
        slot        text NOT NULL CHECK (slot IN ('a', 'b')),
        ts          timestamptz NOT NULL,
        status_code integer,
        error       text,
        latency_ms  integer NOT NULL
    );
    CREATE INDEX checks_app_id_ts ON checks (app_id, ts);
    """,
)
