"""Log family: app containers' stdout/stderr lines, collected by the runtime agent.

Subject: ``berth.logs.<app_id>.<stream>`` (stream = ``stdout`` | ``stderr`` | ``proxy``), or
``berth.logs.<app_id>.<stream>.bulk`` for the batches of a container writing many lines (the
logs service stores those only when no prompt batch waits, so a flood never delays a quiet
app's lines), on the BERTH_LOGS stream (limits: age and size), persisted in batches by the logs
service. One message carries a batch of consecutive lines of one container and stream; ``Nats-Msg-Id`` is
``<container_id>:<stream>:<first timestamp>`` (with ``:<seq>`` appended when the first line's
``seq`` is not 0) so a republished batch is dropped by JetStream,
and each line's ``(container_id, stream, ts, seq)`` makes a redelivered batch add nothing.
Queries: ``berth.rpc.logs.query`` (LogQuery -> LogPage); per-app retention:
``berth.rpc.logs.retention.get`` (GetRetention -> Retention) and ``.set`` (SetRetention -> Retention);
per-app counters: ``berth.rpc.logs.stats`` (GetLogStats -> LogStats).
"""

from __future__ import annotations

import msgspec

from berth_shared.contracts.base import Message

LOG_SUBJECTS = "berth.logs.>"
PROMPT_LOG_SUBJECTS = "berth.logs.*.*"
BULK_LOG_SUBJECTS = "berth.logs.*.*.bulk"
LOGS_QUERY = "berth.rpc.logs.query"
LOGS_RETENTION_GET = "berth.rpc.logs.retention.get"
LOGS_RETENTION_SET = "berth.rpc.logs.retention.set"
LOGS_STATS = "berth.rpc.logs.stats"
# ``proxy``: lines the router writes for the app (routing failures, TLS progress and errors).
LOG_STREAMS = ("stdout", "stderr", "proxy")


def log_subject(app_id: str, stream: str, *, bulk: bool = False) -> str:
    return f"berth.logs.{app_id}.{stream}.bulk" if bulk else f"berth.logs.{app_id}.{stream}"


def app_log_subjects(app_id: str) -> str:
    return f"berth.logs.{app_id}.>"


class LogLine(msgspec.Struct, kw_only=True):
    # Docker's RFC 3339 timestamp with nanoseconds, as the engine wrote it.
    ts: str
    message: str
    # Position of the line among lines with the same timestamp (Docker can repeat one);
    # -1 for a notice placed just before the line at ``ts``.
    seq: int = 0
    # A Berth notice, not the app's output: this many lines were dropped here (the app wrote
    # faster than its budget) ...
    dropped: int = 0
    # ... or lines before this one were lost (the engine's log rotated before they were read).
    lost: bool = False


class LogBatch(Message, kw_only=True):
    app_id: str
    release_id: str
    slot: str
    container_id: str
    stream: str
    lines: list[LogLine]
    # The process type that wrote them (``run``/``cron``/``release`` for one-off containers; the
    # router's ``proxy`` lines say ``web``), and the run's id for a one-off container (ADR 0026).
    process: str = "web"
    run_id: str = ""


class LogQuery(Message, kw_only=True):
    app_id: str
    since: str | None = None
    until: str | None = None
    stream: str | None = None
    release_id: str | None = None
    q: str | None = None
    limit: int = 200
    # Cursor: return lines after this line id (ascending), for paging and live tails.
    after_id: int | None = None
    # Newest lines first when no cursor is given ("the recent lines").
    tail: bool = False
    # With ``tail``: the newest lines before this line id (paging backwards).
    before_id: int | None = None
    # When > 0: also count the app's lines after the page (up to this many), for live tails
    # that must notice a client falling behind.
    lag_cap: int = 0
    # False: leave out the app's records of Berth's own probes (``berth_shared.probes``).
    include_probes: bool = True
    # Only the lines of this process type / of this run.
    process: str | None = None
    run_id: str | None = None


class LogItem(msgspec.Struct, kw_only=True):
    id: int
    timestamp: str
    stream: str
    release_id: str
    message: str
    process: str = "web"
    run_id: str = ""


class LogPage(Message, kw_only=True):
    items: list[LogItem]
    next_cursor: int | None = None
    # Tail pages: pass as ``before_id`` to read the lines before these (None: no older ones).
    prev_cursor: int | None = None
    # With ``lag_cap``: the app's lines after this page, counted up to ``lag_cap + 1``.
    lag: int | None = None


class GetRetention(Message, kw_only=True):
    app_id: str


class SetRetention(Message, kw_only=True):
    app_id: str
    # None: back to the default.
    max_age_days: int | None = None
    max_lines: int | None = None


class Retention(Message, kw_only=True):
    """An app's effective retention, and whether each value is the platform default."""

    app_id: str
    max_age_days: int
    max_lines: int
    custom_age: bool = False
    custom_lines: bool = False


class GetLogStats(Message, kw_only=True):
    app_id: str


class LogStats(Message, kw_only=True):
    """Counters of an app's logs since it was created (retention does not lower them)."""

    app_id: str
    # The app's own lines stored.
    stored_lines: int = 0
    # Lines the agent dropped because the app wrote faster than its budget (told by notices).
    dropped_lines: int = 0
    # Gaps: times lines were lost because the engine's log rotated before they were read.
    lost_gaps: int = 0
