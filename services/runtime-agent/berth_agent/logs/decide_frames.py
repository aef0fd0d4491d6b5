"""Docker's log stream as lines: frames, timestamps, lines split over 16 KiB, bad UTF-8. Pure.

``GET /containers/{id}/logs?stdout=1&stderr=1&timestamps=1`` on a non-TTY container answers a
multiplexed stream: frames of an 8-byte header (stream type: 1 stdout, 2 stderr, 3 an error of
the engine; 3 zero bytes; 4-byte big-endian length) and a payload ``<RFC 3339 ts> <content>``.
Docker splits lines over 16 KiB into several frames; every frame but the last lacks the
trailing newline, and all of them carry the line's first timestamp. A TTY container answers
the same payloads without frame headers, all on stdout.

:class:`FrameDecoder` turns bytes into frames, :class:`LineAssembler` turns frames into
:class:`CollectedLine` (joined, decoded with replacement characters, numbered by ``seq`` among
consecutive lines of a stream with the same timestamp, capped at :data:`MAX_LINE_BYTES`).
Memory is bounded: a frame is at most :data:`MAX_FRAME_BYTES`, a line at most ``MAX_LINE_BYTES``.
"""

from __future__ import annotations

import functools
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

STDOUT = "stdout"
STDERR = "stderr"
STREAM_TYPES = {1: STDOUT, 2: STDERR}
ENGINE_ERROR = 3  # Docker writes its own errors into the stream with this type

HEADER = struct.Struct(">BxxxI")
MAX_LINE_BYTES = 1024 * 1024
MAX_FRAME_BYTES = MAX_LINE_BYTES + 64  # a timestamp and a space in front of a full line
TRUNCATED_MARK = " [berth: line truncated at 1 MiB]"
# A timestamp Docker always writes; used only for a payload that lacks one (never seen).
NO_TS = "1970-01-01T00:00:00.000000000Z"


class StreamCorrupt(Exception):
    """The bytes are not Docker's multiplexed stream (the caller re-reads from its cursor)."""


@dataclass(frozen=True)
class Frame:
    stream: str  # stdout | stderr | "engine" (stream type 3) | "" (unknown type)
    payload: bytes
    cut: bool = False  # the frame was longer than MAX_FRAME_BYTES; the rest was dropped


class FrameDecoder:
    """Bytes of the multiplexed stream -> frames. Keeps at most one frame's bytes."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._skip = 0  # bytes still to drop of an over-long frame

    def feed(self, data: bytes) -> Iterator[Frame]:
        buffer = self._buffer
        buffer += data
        while True:
            if self._skip:
                dropped = min(self._skip, len(buffer))
                del buffer[:dropped]
                self._skip -= dropped
                if self._skip:
                    return
            if len(buffer) < HEADER.size:
                return
            if buffer[1] or buffer[2] or buffer[3]:
                raise StreamCorrupt(f"bad frame header {bytes(buffer[:8])!r}")
            kind, length = HEADER.unpack_from(buffer)
            stream = STREAM_TYPES.get(kind, "engine" if kind == ENGINE_ERROR else "")
            if length > MAX_FRAME_BYTES:
                if len(buffer) < HEADER.size + MAX_FRAME_BYTES:
                    return
                payload = bytes(buffer[HEADER.size : HEADER.size + MAX_FRAME_BYTES])
                del buffer[: HEADER.size + MAX_FRAME_BYTES]
                self._skip = length - MAX_FRAME_BYTES
                yield Frame(stream, payload, cut=True)
                continue
            end = HEADER.size + length
            if len(buffer) < end:
                return
            payload = bytes(buffer[HEADER.size : end])
            del buffer[:end]
            yield Frame(stream, payload)

    @property
    def buffered(self) -> int:
        return len(self._buffer)


class RawDecoder:
    """A TTY container's stream (no headers): each ``\\n``-terminated piece is a stdout frame;
    a piece longer than MAX_FRAME_BYTES is handed on without its newline (a partial line)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[Frame]:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) >= MAX_FRAME_BYTES:
                    payload = bytes(self._buffer[:MAX_FRAME_BYTES])
                    del self._buffer[:MAX_FRAME_BYTES]
                    yield Frame(STDOUT, payload)
                    continue
                return
            payload = bytes(self._buffer[: end + 1])
            del self._buffer[: end + 1]
            yield Frame(STDOUT, payload)

    @property
    def buffered(self) -> int:
        return len(self._buffer)


# -- timestamps ------------------------------------------------------------------------------

_TS = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$")
_TS_BYTES = re.compile(rb"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$")


_UTC_NANOS = re.compile(r"\.(\d{1,9})Z")


@functools.lru_cache(maxsize=64)
def _utc_second(prefix: str) -> int | None:
    """``YYYY-MM-DDTHH:MM:SS`` (UTC) as seconds since the epoch; cached: a flood repeats it."""
    m = _TS.match(prefix + "Z")
    if not m:
        return None
    return int(datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}+00:00").timestamp())


def ts_nanos(ts: str) -> int:
    """Docker's RFC 3339 timestamp as nanoseconds since the epoch (any offset); ValueError if not one."""
    if len(ts) > 21 and ts[19] == "." and _UTC_NANOS.fullmatch(ts, 19):  # Docker's own form, fast
        second = _utc_second(ts[:19])
        if second is not None:
            return second * 1_000_000_000 + int(ts[20:-1].ljust(9, "0"))
    m = _TS.match(ts)
    if not m:
        raise ValueError(f"not a Docker timestamp: {ts!r}")
    day, clock, fraction, zone = m.groups()
    base = datetime.fromisoformat(f"{day}T{clock}{'+00:00' if zone == 'Z' else zone}")
    return int(base.timestamp()) * 1_000_000_000 + int((fraction or "").ljust(9, "0"))


@dataclass(frozen=True, order=True)
class Position:
    """Where a stream's collection stands: the last line handed on, by (timestamp, seq).
    ``seq`` -1 means "before every line with this timestamp"."""

    nanos: int
    seq: int
    ts: str = field(compare=False)

    @classmethod
    def of(cls, ts: str, seq: int) -> Position:
        return cls(ts_nanos(ts), seq, ts)

    @property
    def second(self) -> int:
        """Docker's ``since`` (whole seconds) that re-reads this position's line and what follows."""
        return self.nanos // 1_000_000_000


# -- lines -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CollectedLine:
    stream: str
    ts: str
    message: str
    seq: int = 0
    truncated: bool = False
    dropped: int = 0  # a Berth notice: this many lines were dropped here (over the app's budget)
    lost: bool = False  # a Berth notice: lines before this one were lost (rotated before read)

    @property
    def position(self) -> Position:
        return Position.of(self.ts, self.seq)


def decode_text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")


def cut_utf8(raw: bytes, limit: int) -> bytes:
    """At most ``limit`` bytes of ``raw``, not ending inside a UTF-8 sequence when avoidable."""
    if len(raw) <= limit:
        return raw
    end = limit
    # Step back over continuation bytes (10xxxxxx) to the start of the cut character, at most 3.
    while end > limit - 3 and end > 0 and raw[end] & 0xC0 == 0x80:
        end -= 1
    return raw[:end]


@dataclass
class _Partial:
    ts: str = ""
    parts: list[bytes] = field(default_factory=list)
    size: int = 0
    dropping: bool = False  # the line was cut at MAX_LINE_BYTES; skip its remaining frames


def split_payload(payload: bytes) -> tuple[str | None, bytes]:
    """``<ts> <content>`` -> (ts, content); (None, payload) when there is no timestamp."""
    space = payload.find(b" ", 0, 64)
    if space > 0 and _TS_BYTES.match(payload[:space]):
        return payload[:space].decode("ascii"), payload[space + 1 :]
    return None, payload


class LineAssembler:
    """Frames -> lines, per stream: joins partial frames, numbers same-timestamp lines."""

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self._max = max_line_bytes
        self._partial: dict[str, _Partial] = {STDOUT: _Partial(), STDERR: _Partial()}
        self._last: dict[str, tuple[str, int]] = {}  # stream -> (ts, seq) of its last line
        self.last_ts = ""  # timestamp of the last frame seen (any stream)
        self.engine_errors: list[str] = []

    def feed(self, frame: Frame) -> Iterator[CollectedLine]:
        if frame.stream not in self._partial:
            if frame.stream == "engine":
                self.engine_errors.append(decode_text(frame.payload[:1000]).rstrip("\n"))
            return
        ts, content = split_payload(frame.payload)
        if ts is None:
            ts = self.last_ts or NO_TS
        self.last_ts = ts
        partial = self._partial[frame.stream]
        complete = content.endswith(b"\n") or frame.cut
        if complete and content.endswith(b"\n"):
            content = content[:-1]
        if partial.dropping:
            if complete:
                self._partial[frame.stream] = _Partial()
            return
        if not partial.parts:
            partial.ts = ts
        partial.parts.append(content)
        partial.size += len(content)
        if partial.size > self._max:
            yield self._emit(frame.stream, partial, truncated=True)
            self._partial[frame.stream] = _Partial(dropping=not complete)
            return
        if complete:
            yield self._emit(frame.stream, partial, truncated=frame.cut)
            self._partial[frame.stream] = _Partial()

    def finish(self) -> Iterator[CollectedLine]:
        """The end of a stopped container's log: a last line without a newline is a line."""
        for stream, partial in self._partial.items():
            if partial.parts and not partial.dropping:
                yield self._emit(stream, partial, truncated=False)
            self._partial[stream] = _Partial()

    def pending(self, stream: str) -> bool:
        """A line of ``stream`` has started but not ended (its first frame's ts is not handed on)."""
        partial = self._partial[stream]
        return bool(partial.parts) or partial.dropping

    def _emit(self, stream: str, partial: _Partial, *, truncated: bool) -> CollectedLine:
        raw = b"".join(partial.parts)
        message = decode_text(cut_utf8(raw, self._max) if truncated else raw)
        if truncated:
            message += TRUNCATED_MARK
        last = self._last.get(stream)
        seq = last[1] + 1 if last is not None and last[0] == partial.ts else 0
        self._last[stream] = (partial.ts, seq)
        return CollectedLine(stream=stream, ts=partial.ts, message=message, seq=seq, truncated=truncated)


class Resume:
    """After a restart: drop each stream's lines up to its cursor (already published), then
    stop looking (file order is the truth from there; a clock stepping back loses nothing).

    A cursor on a real line (``seq`` >= 0) is re-read, since ``since`` is its second: when the
    first line of its stream comes after it instead, the engine no longer has the cursor's line
    (its log rotated past it) and lines between the two may be lost. :attr:`gaps` collects such
    (stream, cursor timestamp, first line) for the caller to tell."""

    def __init__(self, cursors: dict[str, Position]) -> None:
        self._cursors = dict(cursors)
        self._reached: set[str] = set()
        self.gaps: list[tuple[str, str, CollectedLine]] = []

    def keep(self, line: CollectedLine) -> bool:
        cursor = self._cursors.get(line.stream)
        if cursor is None:
            return True
        if line.position > cursor:
            del self._cursors[line.stream]
            if cursor.seq >= 0 and line.stream not in self._reached:
                self.gaps.append((line.stream, cursor.ts, line))
            return True
        self._reached.add(line.stream)
        return False
