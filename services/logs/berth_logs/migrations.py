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
    # The logs issue: where each line came from, a key that makes a redelivered batch add
    # nothing, substring search (pg_trgm, created in `public` by the launcher), per-app
    # retention, and tombstones so late batches of a deleted app are dropped.
    """
    ALTER TABLE lines
        ADD COLUMN slot         text NOT NULL DEFAULT '',
        ADD COLUMN container_id text NOT NULL DEFAULT '',
        ADD COLUMN ts_raw       text NOT NULL DEFAULT '',
        ADD COLUMN seq          int  NOT NULL DEFAULT 0;
    UPDATE lines SET ts_raw = 'legacy:' || id WHERE ts_raw = '';
    CREATE UNIQUE INDEX lines_origin ON lines (container_id, stream, ts_raw, seq);
    CREATE INDEX lines_app_id_id ON lines (app_id, id);
    CREATE INDEX lines_message_trgm ON lines USING gin (message public.gin_trgm_ops);

    CREATE TABLE retention (
        app_id       text PRIMARY KEY,
        max_age_days int CHECK (max_age_days IS NULL OR max_age_days > 0),
        max_lines    int CHECK (max_lines IS NULL OR max_lines > 0),
        updated_at   timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE deleted_apps (
        app_id     text PRIMARY KEY,
        deleted_at timestamptz NOT NULL DEFAULT now()
    );
    """,
    # Reliability: Berth's notices in an app's logs (lines dropped over its budget, lines lost
    # to the engine's log rotation) and per-app counters that retention does not lower.
    """
    ALTER TABLE lines
        ADD COLUMN dropped int NOT NULL DEFAULT 0,
        ADD COLUMN lost boolean NOT NULL DEFAULT false;

    CREATE TABLE counters (
        app_id     text PRIMARY KEY,
        stored     bigint NOT NULL DEFAULT 0,
        dropped    bigint NOT NULL DEFAULT 0,
        lost_gaps  bigint NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    """,
)
