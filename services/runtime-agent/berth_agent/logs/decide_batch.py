"""Collected lines -> LogBatch payloads, and the cursor that says what was published. Pure.

Lines wait in one bounded buffer (both streams, in the order read). It is flushed whole when it
holds :data:`MAX_LINES` lines or ``max_bytes`` of encoded lines, or its oldest line is
:data:`MAX_AGE_SECONDS` old; a flush yields one or more batches per stream (each within the
same limits) and, once they are acked, the cursor moves past every line read so far.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec
from berth_shared.contracts.logs import LogLine

from berth_agent.logs.decide_frames import STDERR, STDOUT, CollectedLine, Position, last_position, ts_nanos

MAX_LINES = 200
MAX_AGE_SECONDS = 0.2
DEFAULT_MAX_BYTES = 1024 * 1024 - 16 * 1024  # NATS' default max_payload, less the envelope
MAX_BATCH_BYTES = 2 * 1024 * 1024
ENVELOPE_BYTES = 4096  # LogBatch fields around the lines (ids, tag, timestamps), generously
# When no line of a stream is pending, its cursor may move up to the last frame read, less this
# margin: Docker stamps stdout and stderr in two goroutines, so across streams the file order
# can disagree with timestamps by a little.
CROSS_STREAM_MARGIN_NANOS = 1_000_000_000

_encoder = msgspec.json.Encoder()


def encoded_size(line: LogLine) -> int:
    return len(_encoder.encode(line))


def fit_line(line: LogLine, max_bytes: int) -> LogLine:
    """``line`` cut until its JSON fits ``max_bytes`` (escapes can make it up to 6x its text)."""
    size = encoded_size(line)
    while size > max_bytes and line.message:
        keep = max(0, int(len(line.message) * max_bytes / size) - 64)
        line = LogLine(ts=line.ts, seq=line.seq, message=line.message[:keep], dropped=line.dropped, lost=line.lost)
        size = encoded_size(line)
    return line


def batch_limit(max_payload: int) -> int:
    """Bytes of encoded lines one batch may carry on a server with this ``max_payload``: at most
    2 MiB, so a whole 1 MiB line fits and a collector holds little while it waits for an ack."""
    return max(64 * 1024, min(max_payload, MAX_BATCH_BYTES) - ENVELOPE_BYTES)


def message_id(container_id: str, stream: str, first: LogLine) -> str:
    """``<container_id>:<stream>:<first ts>``; a batch that starts at a repeated timestamp
    (``seq`` > 0) gets ``:<seq>`` too, or JetStream would drop it as the previous batch."""
    base = f"{container_id}:{stream}:{first.ts}"
    return f"{base}:{first.seq}" if first.seq else base


@dataclass(frozen=True)
class ReadyBatch:
    stream: str
    lines: list[LogLine]
    collected: list[CollectedLine]


@dataclass
class Batcher:
    max_lines: int = MAX_LINES
    max_bytes: int = DEFAULT_MAX_BYTES
    max_age: float = MAX_AGE_SECONDS
    _lines: list[tuple[CollectedLine, LogLine, int]] = field(default_factory=list)
    _bytes: int = 0
    _oldest: float | None = None

    def add(self, line: CollectedLine, now: float) -> None:
        wire = LogLine(ts=line.ts, message=line.message, seq=line.seq, dropped=line.dropped, lost=line.lost)
        size = len(_encoder.encode(wire))  # encoded_size, without a call per line
        if size > self.max_bytes:
            wire = fit_line(wire, self.max_bytes)
            size = encoded_size(wire)
        self._lines.append((line, wire, size))
        self._bytes += size
        if self._oldest is None:
            self._oldest = now

    def __len__(self) -> int:
        return len(self._lines)

    @property
    def deadline(self) -> float | None:
        """When the buffer must be flushed (monotonic seconds), or None when it is empty."""
        return None if self._oldest is None else self._oldest + self.max_age

    def full(self) -> bool:
        return len(self._lines) >= self.max_lines or self._bytes >= self.max_bytes

    def due(self, now: float) -> bool:
        deadline = self.deadline
        return self.full() or (deadline is not None and now >= deadline)

    def take(self) -> list[ReadyBatch]:
        """Everything buffered, as batches per stream (stdout first), each within the limits."""
        taken, self._lines, self._bytes, self._oldest = self._lines, [], 0, None
        batches: list[ReadyBatch] = []
        for stream in (STDOUT, STDERR):
            entries = [entry for entry in taken if entry[0].stream == stream]
            if len(entries) <= self.max_lines and sum(entry[2] for entry in entries) <= self.max_bytes:
                batches.extend(_whole(stream, entries))
            else:
                batches.extend(self._split(stream, entries))
        return batches

    def _split(self, stream: str, entries: list[tuple[CollectedLine, LogLine, int]]) -> Iterator[ReadyBatch]:
        current: list[tuple[CollectedLine, LogLine, int]] = []
        size = 0
        for entry in entries:
            if current and (len(current) >= self.max_lines or size + entry[2] > self.max_bytes):
                yield from _whole(stream, current)
                current, size = [], 0
            current.append(entry)
            size += entry[2]
        yield from _whole(stream, current)


def _whole(stream: str, entries: list[tuple[CollectedLine, LogLine, int]]) -> list[ReadyBatch]:
    """``entries`` as one batch (none when empty)."""
    if not entries:
        return []
    return [ReadyBatch(stream, [entry[1] for entry in entries], [entry[0] for entry in entries])]


class Progress:
    """Per stream, the position of the last line published (the cursor that is saved)."""

    def __init__(self, cursors: dict[str, Position] | None = None) -> None:
        self.cursors: dict[str, Position] = dict(cursors or {})

    def published(self, lines: Sequence[CollectedLine]) -> None:
        for stream in {line.stream for line in lines}:
            position = last_position([line for line in lines if line.stream == stream])
            current = self.cursors.get(stream)
            if current is None or position > current:
                self.cursors[stream] = position

    def read_up_to(self, last_ts: str, pending: Callable[[str], bool]) -> None:
        """Every line read so far is published: a stream with no partial line pending can never
        have an unread line much older than the last frame read, so its cursor moves up there
        (less the cross-stream margin). Keeps ``since`` close after a restart."""
        if not last_ts:
            return
        floor = ts_nanos(last_ts) - CROSS_STREAM_MARGIN_NANOS
        for stream in (STDOUT, STDERR):
            current = self.cursors.get(stream)
            if pending(stream) or (current is not None and current.nanos >= floor):
                continue
            self.cursors[stream] = Position(floor, -1, format_nanos(floor))

    def since(self) -> int:
        """Docker's ``since`` for a re-read: the earliest stream cursor's second; 0 (everything)
        while a stream has none."""
        if any(stream not in self.cursors for stream in (STDOUT, STDERR)):
            return 0
        return min(p.second for p in self.cursors.values())


def format_nanos(nanos: int) -> str:
    """Nanoseconds since the epoch as Docker writes timestamps (UTC, 9 digits, ``Z``)."""
    seconds, fraction = divmod(nanos, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}Z"
