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
    # Search through chunks (ADR 0024): lines lose their trigram index; each insert stores the
    # distinct words of every run of up to 256 of an app's lines (chunks.py), under a trigram
    # index. Lines stored before get their chunks here, 256 of an app's lines at a time, split
    # into words by the same delimiters as words.py (ASCII other than letters and digits).
    r"""
    CREATE TABLE chunks (
        app_id   text NOT NULL,
        first_id bigint NOT NULL,
        last_id  bigint NOT NULL,
        first_ts timestamptz NOT NULL,
        last_ts  timestamptz NOT NULL,
        words    text NOT NULL,
        PRIMARY KEY (app_id, first_id)
    ) WITH (toast_tuple_target = 8160);
    ALTER TABLE chunks ALTER COLUMN words SET STORAGE MAIN;
    CREATE INDEX chunks_app_id_last_id ON chunks (app_id, last_id);

    INSERT INTO chunks (app_id, first_id, last_id, first_ts, last_ts, words)
    SELECT g.app_id, g.first_id, g.last_id, g.first_ts, g.last_ts,
           ' ' || coalesce((SELECT string_agg(DISTINCT w, ' ')
                            FROM regexp_split_to_table(g.text, '[-/:-@\[-`{-]+') AS w
                            WHERE w <> ''), '') || ' '
    FROM (SELECT app_id, min(id) AS first_id, max(id) AS last_id, min(ts) AS first_ts, max(ts) AS last_ts,
                 lower(string_agg(message, E'
')) AS text
          FROM (SELECT app_id, id, ts, message,
                       (row_number() OVER (PARTITION BY app_id ORDER BY id) - 1) / 256 AS k
                FROM lines) numbered
          GROUP BY app_id, k) g;

    CREATE INDEX chunks_words_trgm ON chunks USING gin (words public.gin_trgm_ops);
    DROP INDEX lines_message_trgm;
    """,
    # Origins (issue 17, ADR 0006's addendum of 2026-12-05): what a batch's lines share — app,
    # release, slot, container, stream, and now the process type and the one-off run — is stored
    # once per origin, and each line names its origin by a small integer. The duplicate key is
    # (origin, ts_raw, seq), ts_raw and app_id compared byte-wise (COLLATE "C": no strcoll per
    # comparison). Lines stored before are rewritten into the new table, as process ``web``.
    """
    CREATE TABLE origins (
        id           serial PRIMARY KEY,
        app_id       text COLLATE "C" NOT NULL,
        release_id   text NOT NULL,
        slot         text NOT NULL,
        container_id text NOT NULL,
        stream       text NOT NULL,
        process      text NOT NULL DEFAULT 'web',
        run_id       text NOT NULL DEFAULT ''
    );
    CREATE UNIQUE INDEX origins_key ON origins (app_id, container_id, stream, release_id, slot, process, run_id);

    INSERT INTO origins (app_id, release_id, slot, container_id, stream)
    SELECT DISTINCT app_id, release_id, slot, container_id, stream FROM lines ORDER BY 1, 4, 5, 2, 3;

    CREATE TABLE lines_by_origin (
        id      bigint PRIMARY KEY DEFAULT nextval('lines_id_seq'),
        app_id  text COLLATE "C" NOT NULL,
        origin  int NOT NULL,
        ts      timestamptz NOT NULL,
        ts_raw  text COLLATE "C" NOT NULL,
        seq     int NOT NULL DEFAULT 0,
        message text NOT NULL,
        dropped int NOT NULL DEFAULT 0,
        lost    boolean NOT NULL DEFAULT false
    );
    INSERT INTO lines_by_origin (id, app_id, origin, ts, ts_raw, seq, message, dropped, lost)
    SELECT l.id, l.app_id, o.id, l.ts, l.ts_raw, l.seq, l.message, l.dropped, l.lost
    FROM lines l JOIN origins o ON o.app_id = l.app_id AND o.container_id = l.container_id AND o.stream = l.stream
        AND o.release_id = l.release_id AND o.slot = l.slot AND o.process = 'web' AND o.run_id = ''
    ORDER BY l.id;
    ALTER SEQUENCE lines_id_seq OWNED BY lines_by_origin.id;
    DROP TABLE lines;
    ALTER TABLE lines_by_origin RENAME TO lines;
    ALTER INDEX lines_by_origin_pkey RENAME TO lines_pkey;
    CREATE UNIQUE INDEX lines_origin ON lines (origin, ts_raw, seq);
    CREATE INDEX lines_app_id_id ON lines (app_id, id);
    CREATE INDEX lines_app_id_ts ON lines (app_id, ts);
    ANALYZE origins;
    ANALYZE lines;
    """,
    # Each origin's span of line ids (kept by the insert), so a page of one run or process reads
    # only the lines between its first and last (a run's output among an app's million lines).
    """
    ALTER TABLE origins ADD COLUMN first_id bigint, ADD COLUMN last_id bigint;
    UPDATE origins o SET first_id = s.first_id, last_id = s.last_id
    FROM (SELECT origin, min(id) AS first_id, max(id) AS last_id FROM lines GROUP BY origin) s
    WHERE o.id = s.origin;
    """,
    # Two btrees fewer per stored line (ADR 0006, addendum "two indexes fewer"): every read and
    # delete of lines names its app, so the key over ids is (app_id, id), which also serves the
    # pages, tails and retention that (app_id, id) served (ids stay unique: one sequence); and
    # time bounds (?since=/?until=, retention by age) become id bounds through the chunks' time
    # spans (every line lies in a chunk of its app), so (app_id, ts) goes.
    """
    ALTER TABLE lines DROP CONSTRAINT lines_pkey;
    DROP INDEX lines_app_id_id;
    DROP INDEX lines_app_id_ts;
    ALTER TABLE lines ADD CONSTRAINT lines_pkey PRIMARY KEY (app_id, id);
    ANALYZE lines;
    """,
)
