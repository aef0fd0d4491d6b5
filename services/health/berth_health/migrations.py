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
    """
    -- Did the check pass the app's expectation at the time (uptime, history).
    ALTER TABLE checks ADD COLUMN ok boolean NOT NULL DEFAULT false;
    CREATE INDEX checks_app_id_id ON checks (app_id, id);

    -- What the service checks, learnt from app events (config) and release events (live slot);
    -- the schedule is rebuilt from here after a restart. state: berth_health.machine.HealthState.
    CREATE TABLE apps (
        app_id       text PRIMARY KEY,
        name         text,
        subnet       text,
        port         integer,
        health_check jsonb,
        configured   boolean NOT NULL DEFAULT false,
        release_id   text,
        slot         text,
        live_at      timestamptz,
        state        jsonb NOT NULL DEFAULT '{}',
        updated_at   timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE webhooks (
        id         uuid PRIMARY KEY,
        url        text NOT NULL,
        events     text[] NOT NULL,
        secret     text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );

    -- One row per (webhook, triggering event): redelivered bus events add nothing.
    CREATE TABLE deliveries (
        id               bigserial PRIMARY KEY,
        webhook_id       uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
        event_id         text NOT NULL,
        event            text NOT NULL,
        app_id           text NOT NULL,
        body             bytea NOT NULL,
        status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts         integer NOT NULL DEFAULT 0,
        next_attempt_at  timestamptz NOT NULL DEFAULT now(),
        last_status_code integer,
        last_error       text,
        created_at       timestamptz NOT NULL DEFAULT now(),
        delivered_at     timestamptz,
        UNIQUE (webhook_id, event_id)
    );
    CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
    CREATE INDEX deliveries_webhook ON deliveries (webhook_id, id);
    """,
    """
    -- Every web instance of the live slot (ReleaseLive.addresses, ADR 0026); empty: the slot's
    -- fixed address (an agent from before ADR 0026).
    ALTER TABLE apps ADD COLUMN addresses text[] NOT NULL DEFAULT '{}';
    """,
    """
    -- The live release runs no web instance (ReleaseLive.no_instances: web scaled to 0, a
    -- worker-only release; ADR 0026): nothing is checked until it has one again.
    ALTER TABLE apps ADD COLUMN no_instances boolean NOT NULL DEFAULT false;
    """,
)
