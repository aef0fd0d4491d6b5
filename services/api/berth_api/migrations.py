"""Versioned migrations of the ``api`` schema. Append only; never edit an applied one."""

MIGRATIONS = [
    """
    CREATE TABLE apps (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        port int NOT NULL,
        memory_mb int NOT NULL,
        cpus numeric(6, 2) NOT NULL,
        subnet cidr NOT NULL,
        health_path text NOT NULL DEFAULT '/',
        status text NOT NULL DEFAULT 'created',
        status_reason text,
        desired_release_id uuid,
        current_release_id uuid,
        generation bigint NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_deployed_at timestamptz,
        deleted_at timestamptz
    );
    CREATE UNIQUE INDEX apps_live_name ON apps (name) WHERE deleted_at IS NULL;
    CREATE UNIQUE INDEX apps_subnet ON apps (subnet);

    CREATE TABLE releases (
        id uuid PRIMARY KEY,
        app_id uuid NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
        version int NOT NULL,
        kind text NOT NULL,
        image text NOT NULL,
        image_digest text,
        status text NOT NULL DEFAULT 'pending',
        reason text,
        slot text,
        created_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        live_at timestamptz,
        finished_at timestamptz,
        UNIQUE (app_id, version)
    );

    CREATE TABLE release_steps (
        event_id text PRIMARY KEY,
        release_id uuid NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
        step text NOT NULL,
        slot text NOT NULL DEFAULT '',
        detail text NOT NULL DEFAULT '',
        duration_ms int NOT NULL DEFAULT 0,
        at timestamptz NOT NULL
    );
    CREATE INDEX release_steps_release ON release_steps (release_id, at);

    CREATE TABLE tokens (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        token_hash text NOT NULL UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE outbox (
        id bigserial PRIMARY KEY,
        subject text NOT NULL,
        payload bytea NOT NULL,
        msg_id text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE audit_log (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        actor text NOT NULL,
        action text NOT NULL,
        app_id uuid,
        detail jsonb NOT NULL DEFAULT '{}'
    );
    """,
    """
    ALTER TABLE apps ADD COLUMN deploy_timeout_seconds int NOT NULL DEFAULT 60;
    ALTER TABLE apps ADD COLUMN stop_timeout_seconds int NOT NULL DEFAULT 10;
    ALTER TABLE releases ADD COLUMN rolled_back_at timestamptz;
    ALTER TABLE releases ADD COLUMN rollback_of uuid;

    CREATE TABLE app_events (
        event_id text PRIMARY KEY,
        app_id uuid NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
        release_id uuid,
        kind text NOT NULL,
        detail jsonb NOT NULL DEFAULT '{}',
        at timestamptz NOT NULL
    );
    CREATE INDEX app_events_app_at ON app_events (app_id, at);
    """,
    """
    -- Environment variables, sealed (AES-256-GCM envelope, see berth_api.envelope): never plaintext.
    CREATE TABLE env_vars (
        app_id uuid NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
        name text NOT NULL,
        key_id text NOT NULL,
        ciphertext bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (app_id, name)
    );
    CREATE INDEX env_vars_key_id ON env_vars (key_id);
    -- Which keys a config release changed: {"set": [...], "unset": [...]}; never values.
    ALTER TABLE releases ADD COLUMN env_changes jsonb;
    CREATE INDEX audit_log_app_at ON audit_log (app_id, at);
    """,
    """
    -- The app's HTTP health check (berth_shared.contracts.health.HealthCheck as JSON); NULL: none
    -- configured (liveness only). health_path is kept equal to its path.
    ALTER TABLE apps ADD COLUMN health_check jsonb;
    """,
    """
    -- 5: releases built from source
    ALTER TABLE releases ADD COLUMN build jsonb;
    ALTER TABLE releases ADD COLUMN build_log text NOT NULL DEFAULT '';
    ALTER TABLE releases ADD COLUMN build_log_seq int NOT NULL DEFAULT -1;
    ALTER TABLE releases ADD COLUMN config jsonb;
    """,
    """
    -- 6: dashboard sign-in sessions: only a SHA-256 of the random session id is stored; a
    -- session ends when it expires, when it is signed out, or when its token is deleted.
    CREATE TABLE sessions (
        id_hash text PRIMARY KEY,
        actor text NOT NULL,
        token_hash text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
    );
    CREATE INDEX sessions_expires ON sessions (expires_at);
    """,
    """
    -- 7: custom domains attached to apps. A hostname belongs to at most one row; rows of deleted
    -- apps are removed when their hostname is attached again. tls_status: pending | issued | failed.
    CREATE TABLE domains (
        id uuid PRIMARY KEY,
        app_id uuid NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
        hostname text NOT NULL UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now(),
        verified_at timestamptz,
        tls_status text NOT NULL DEFAULT 'pending',
        tls_reason text
    );
    CREATE INDEX domains_app ON domains (app_id);
    """,
    """
    -- 8: the router's view of each domain (DomainStatusChanged): who certifies it, the last
    -- verification attempt, and the time of the state kept (newer events win).
    ALTER TABLE domains
        ADD COLUMN tls_issuer text,
        ADD COLUMN checked_at timestamptz,
        ADD COLUMN status_at  timestamptz;
    """,
    """
    -- 9: named API tokens with scopes (read | deploy | admin), stored as SHA-256 hashes. apps:
    -- the app ids a deploy token may act on (NULL: all). The one root token (the admin token
    -- `berth up` seeds) is replaced by rotation, never deleted. Audit entries name the token.
    ALTER TABLE tokens
        ADD COLUMN scope text NOT NULL DEFAULT 'admin' CHECK (scope IN ('read', 'deploy', 'admin')),
        ADD COLUMN apps uuid[],
        ADD COLUMN expires_at timestamptz,
        ADD COLUMN last_used_at timestamptz,
        ADD COLUMN root boolean NOT NULL DEFAULT false;
    UPDATE tokens SET root = true WHERE name = 'admin';
    CREATE UNIQUE INDEX tokens_name ON tokens (name);
    CREATE UNIQUE INDEX tokens_one_root ON tokens (root) WHERE root;
    ALTER TABLE audit_log ADD COLUMN token_id uuid;
    """,
    """
    -- 10: the release an outbox row is sent for: when the row is published, the release's
    -- timeline gains its `command.published` step (ADR 0023).
    ALTER TABLE outbox ADD COLUMN release_id uuid;
    """,
    """
    -- 11: process types (ADR 0026). Each release records the whole formation it rolls out
    -- (processes with their counts, release command, cron jobs; NULL: one web from the CMD) and
    -- the release command's output (BuildLog{source: "release"}); steps name their process and
    -- instance; the app keeps the counts a scale set since its live release, and which of its
    -- non-web processes crashed (name -> reason) while web keeps serving.
    ALTER TABLE releases
        ADD COLUMN formation jsonb,
        ADD COLUMN release_log text NOT NULL DEFAULT '',
        ADD COLUMN release_log_seq int NOT NULL DEFAULT -1;
    ALTER TABLE release_steps
        ADD COLUMN process text NOT NULL DEFAULT 'web',
        ADD COLUMN instance int NOT NULL DEFAULT 0;
    ALTER TABLE apps
        ADD COLUMN process_counts jsonb NOT NULL DEFAULT '{}',
        ADD COLUMN crashed_processes jsonb NOT NULL DEFAULT '{}';
    """,
    """
    -- 12: cron jobs and runs (ADR 0026 §4-5). cron_jobs are the live release's jobs (the app's
    -- cron_release_id: the release they were synced from), each with its next due time; runs are
    -- one-off and cron runs and the cron history's skipped/missed entries (status), one per
    -- (app, job, due time) apart from missed entries, which name their first due time and count.
    ALTER TABLE apps ADD COLUMN cron_release_id uuid;
    CREATE TABLE cron_jobs (
        app_id uuid NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
        name text NOT NULL,
        release_id uuid NOT NULL,
        schedule text NOT NULL,
        timezone text NOT NULL DEFAULT 'UTC',
        command jsonb NOT NULL,
        timeout_seconds int NOT NULL,
        concurrency text NOT NULL DEFAULT 'forbid',
        catch_up boolean NOT NULL DEFAULT false,
        next_due_at timestamptz NOT NULL,
        last_due_at timestamptz,
        PRIMARY KEY (app_id, name)
    );
    CREATE INDEX cron_jobs_due ON cron_jobs (next_due_at);
    CREATE TABLE runs (
        id uuid PRIMARY KEY,
        app_id uuid NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
        release_id uuid,
        kind text NOT NULL CHECK (kind IN ('run', 'cron')),
        job text,
        trigger text,
        due_at timestamptz,
        first_due_at timestamptz,
        missed_count int,
        status text NOT NULL DEFAULT 'pending',
        command jsonb NOT NULL DEFAULT '[]',
        attach boolean NOT NULL DEFAULT false,
        stdin boolean NOT NULL DEFAULT false,
        timeout_seconds int NOT NULL DEFAULT 3600,
        late_ms int,
        exit_code int,
        reason text NOT NULL DEFAULT '',
        last_lines jsonb NOT NULL DEFAULT '[]',
        container_id text,
        actor text NOT NULL DEFAULT 'platform',
        token_id uuid,
        created_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        finished_at timestamptz,
        duration_ms int
    );
    CREATE UNIQUE INDEX runs_due ON runs (app_id, job, due_at) WHERE status <> 'missed';
    CREATE INDEX runs_app ON runs (app_id, created_at DESC);
    CREATE INDEX runs_job ON runs (app_id, job, created_at DESC) WHERE job IS NOT NULL;
    CREATE INDEX runs_unfinished ON runs (app_id, job) WHERE status IN ('pending', 'running');
    """,
    """
    -- 13: the web instances' addresses a live release serves from (ReleaseLive.addresses, ADR
    -- 0026 §2), for the owners' resync (LiveRelease.addresses); empty: the slot's fixed address.
    ALTER TABLE releases ADD COLUMN addresses text[] NOT NULL DEFAULT '{}';
    """,
    """
    -- 14: the live release runs no web instance (ReleaseLive.no_instances: web scaled to 0, a
    -- worker-only release; ADR 0026), for the owners' resync (LiveRelease.no_instances).
    ALTER TABLE releases ADD COLUMN no_instances boolean NOT NULL DEFAULT false;
    """,
]
