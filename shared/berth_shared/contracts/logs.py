"""Log family: app containers' stdout/stderr lines, collected by the runtime agent.

Subject: ``berth.logs.<app_id>.<stream>`` (stream = ``stdout`` | ``stderr``) on the BERTH_LOGS
stream (limits: age and size), persisted in batches by the logs service. One message carries a
batch of consecutive lines of one container and stream; ``Nats-Msg-Id`` is
``<container_id>:<stream>:<first timestamp>`` so a republished batch is dropped by JetStream,
and each line's ``(container_id, stream, ts, seq)`` makes a redelivered batch add nothing.
Queries: ``berth.rpc.logs.query`` (LogQuery -> LogPage).
"""

from __future__ import annotations

import msgspec

from berth_shared.contracts.base import Message

LOG_SUBJECTS = "berth.logs.>"
LOGS_QUERY = "berth.rpc.logs.query"


def log_subject(app_id: str, stream: str) -> str:
    return f"berth.logs.{app_id}.{stream}"


def app_log_subjects(app_id: str) -> str:
    return f"berth.logs.{app_id}.>"


class LogLine(msgspec.Struct, kw_only=True):
    # Docker's RFC 3339 timestamp with nanoseconds, as the engine wrote it.
    ts: str
    message: str
    # Position of the line among lines with the same timestamp (Docker can repeat one).
    seq: int = 0


class LogBatch(Message, kw_only=True):
    app_id: str
    release_id: str
    slot: str
    container_id: str
    stream: str
    lines: list[LogLine]


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


class LogItem(msgspec.Struct, kw_only=True):
    id: int
    timestamp: str
    stream: str
    release_id: str
    message: str


class LogPage(Message, kw_only=True):
    items: list[LogItem]
    next_cursor: int | None = None
