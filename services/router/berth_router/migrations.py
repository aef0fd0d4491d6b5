"""Versioned migrations of the router's own schema (applied in order by berth_shared.db.migrate)."""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE routes (
        app_id      text PRIMARY KEY,
        name        text NOT NULL,
        hostname    text NOT NULL,
        port        integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
        subnet      text NOT NULL,
        health_path text NOT NULL,
        updated_at  timestamptz NOT NULL
    );
    -- Deleted apps are remembered so a late redelivery of an older event cannot bring a route back.
    CREATE TABLE deleted_apps (
        app_id     text PRIMARY KEY,
        deleted_at timestamptz NOT NULL
    );
    """,
    """
    -- The app's expected status for Caddy's active check (0 = Caddy's default, 200-399).
    ALTER TABLE routes ADD COLUMN expect_status int NOT NULL DEFAULT 0;
    """,
    """
    -- Custom hostnames attached to the app, served by the same route.
    ALTER TABLE routes ADD COLUMN domains text[] NOT NULL DEFAULT '{}';
    """,
    """
    -- The router's view of each attached hostname (ADR 9): is it verified to point here, and
    -- does Caddy hold its certificate? ``version`` > ``published_version``: not yet announced.
    CREATE TABLE domain_status (
        hostname          text PRIMARY KEY,
        app_id            text NOT NULL,
        issuer            text NOT NULL,
        verified_at       timestamptz,
        verify_method     text,
        tls_state         text NOT NULL DEFAULT 'pending',
        reason            text,
        checked_at        timestamptz,
        failures          int NOT NULL DEFAULT 0,
        next_check_at     timestamptz NOT NULL DEFAULT now(),
        changed_at        timestamptz NOT NULL DEFAULT now(),
        version           int NOT NULL DEFAULT 1,
        published_version int NOT NULL DEFAULT 0
    );
    """,
    """
    -- Why Caddy refused this app's routes (ADR 13): the app is left out of the loaded config
    -- until its route changes. NULL: routed.
    ALTER TABLE routes ADD COLUMN refused text;
    """,
)
