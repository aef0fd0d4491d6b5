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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import msgspec

STDOUT = "stdout"
STDERR = "stderr"
STREAM_TYPES = {1: STDOUT, 2: STDERR}
ENGINE_ERROR = 3  # Docker writes its own errors into the stream with this type

HEADER = struct.Struct(">BxxxI")
_HEADER_WORDS = struct.Struct(">II")  # the same 8 bytes: type and the 3 zero bytes, length
MAX_LINE_BYTES = 1024 * 1024
MAX_FRAME_BYTES = MAX_LINE_BYTES + 64  # a timestamp and a space in front of a full line
TRUNCATED_MARK = " [berth: line truncated at 1 MiB]"
# A timestamp Docker always writes; used only for a payload that lacks one (never seen).
NO_TS = "1970-01-01T00:00:00.000000000Z"


class StreamCorrupt(Exception):
    """The bytes are not Docker's multiplexed stream (the caller re-reads from its cursor)."""


class Frame(msgspec.Struct, frozen=True):
    stream: str  # stdout | stderr | "engine" (stream type 3) | "" (unknown type)
    payload: bytes
    cut: bool = False  # the frame was longer than MAX_FRAME_BYTES; the rest was dropped


class FrameDecoder:
    """Bytes of the multiplexed stream -> frames. Keeps at most one frame's bytes."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []  # what was read of frames not yet whole
        self._have = 0  # their bytes
        self._need = HEADER.size  # bytes to have before another frame can be whole
        self._skip = 0  # bytes still to drop of an over-long frame

    def feed(self, data: bytes) -> list[Frame]:
        """The frames completed by ``data``; StreamCorrupt on a bad header (the frames before
        it in this read are not handed on: the caller re-reads from its cursor anyway)."""
        if self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            data = data[dropped:]
        self._pieces.append(data)
        self._have += len(data)
        if self._have < self._need:  # a long frame arriving in small reads is joined once
            return []
        buffer = b"".join(self._pieces)
        frames, at = self._frames(buffer)
        rest = buffer[at:]
        self._pieces, self._have = [rest], len(rest)
        self._need = HEADER.size
        if len(rest) >= HEADER.size:
            self._need += min(_HEADER_WORDS.unpack_from(rest)[1], MAX_FRAME_BYTES)
        return frames

    def _frames(self, buffer: bytes) -> tuple[list[Frame], int]:
        """The whole frames at the start of ``buffer``, and where the rest begins."""
        size = len(buffer)
        at = 0
        frames: list[Frame] = []
        unpack = _HEADER_WORDS.unpack_from
        while size - at >= HEADER.size:
            word, length = unpack(buffer, at)
            if word & 0xFFFFFF:
                raise StreamCorrupt(f"bad frame header {buffer[at : at + HEADER.size]!r}")
            kind = word >> 24
            stream = STREAM_TYPES.get(kind, "engine" if kind == ENGINE_ERROR else "")
            start = at + HEADER.size
            if length > MAX_FRAME_BYTES:
                if size - start < MAX_FRAME_BYTES:
                    break
                at = start + MAX_FRAME_BYTES
                frames.append(Frame(stream, buffer[start:at], cut=True))
                dropped = min(length - MAX_FRAME_BYTES, size - at)
                self._skip = length - MAX_FRAME_BYTES - dropped
                at += dropped
                continue
            end = start + length
            if end > size:
                break
            frames.append(Frame(stream, buffer[start:end]))
            at = end
        return frames, at

    @property
    def buffered(self) -> int:
        return self._have


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
    if len(ts) == 30 and ts[29] == "Z" and ts[19] == ".":  # the engine's own form, fast
        fraction = ts[20:29]
        if fraction.isdigit() and fraction.isascii():
            second = _utc_second(ts[:19])
            if second is not None:
                return second * 1_000_000_000 + int(fraction)
    if len(ts) > 21 and ts[19] == "." and _UTC_NANOS.fullmatch(ts, 19):  # fewer digits, still UTC
        second = _utc_second(ts[:19])
        if second is not None:
            return second * 1_000_000_000 + int(ts[20:-1].ljust(9, "0"))
    m = _TS.match(ts)
    if not m:
        raise ValueError(f"not a Docker timestamp: {ts!r}")
    day, clock, fraction, zone = m.groups()
    base = datetime.fromisoformat(f"{day}T{clock}{'+00:00' if zone == 'Z' else zone}")
    return int(base.timestamp()) * 1_000_000_000 + int((fraction or "").ljust(9, "0"))


def fixed_form(ts: str) -> bool:
    """Whether ``ts`` looks like the engine's own timestamps (UTC, nine fraction digits, 30
    characters): such timestamps sort as text in the order of their instants."""
    return len(ts) == 30 and ts[29] == "Z"


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


class CollectedLine(msgspec.Struct, frozen=True):
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


def _text_order(line: CollectedLine) -> tuple[str, int]:
    return line.ts, line.seq


def _instant_order(line: CollectedLine) -> tuple[int, int]:
    return ts_nanos(line.ts), line.seq


def last_position(lines: Sequence[CollectedLine]) -> Position:
    """The greatest position among ``lines`` (not empty). Only the winner's timestamp is parsed
    when every timestamp has the engine's fixed form (see :func:`fixed_form`)."""
    if all(fixed_form(line.ts) for line in lines):
        return max(lines, key=_text_order).position
    return max(lines, key=_instant_order).position


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


_DOCKER_SECOND = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.")


class LineAssembler:
    """Frames -> lines, per stream: joins partial frames, numbers same-timestamp lines."""

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self._max = max_line_bytes
        self._partial: dict[str, _Partial] = {STDOUT: _Partial(), STDERR: _Partial()}
        self._last: dict[str, tuple[str, int]] = {}  # stream -> (ts, seq) of its last line
        self._second = ""  # ``YYYY-MM-DDTHH:MM:SS.`` of a timestamp already seen to be well formed
        self.last_ts = ""  # timestamp of the last frame seen (any stream)
        self.engine_errors: list[str] = []

    def feed(self, frame: Frame) -> list[CollectedLine]:
        return self.feed_all([frame])

    def feed_all(self, frames: Iterable[Frame]) -> list[CollectedLine]:
        """The lines ``frames`` complete, in order (one call per read, not per frame)."""
        lines: list[CollectedLine] = []
        whole_line, partials = self._whole_line, self._partial
        for frame in frames:
            partial = partials.get(frame.stream)
            if partial is None:
                if frame.stream == "engine":
                    self.engine_errors.append(decode_text(frame.payload[:1000]).rstrip("\n"))
                continue
            if not partial.parts and not partial.dropping and not frame.cut:
                line = whole_line(frame.stream, frame.payload)
                if line is not None:
                    lines.append(line)
                    continue
            lines.extend(self._assemble(frame, partial))
        return lines

    def _whole_line(self, stream: str, payload: bytes) -> CollectedLine | None:
        """The common frame, fast: a whole line of valid UTF-8 under the cap, with the engine's
        fixed-form timestamp. None for any other frame (:meth:`_assemble` takes it)."""
        if payload[-1:] != b"\n" or len(payload) - 32 > self._max:
            return None
        try:
            text = payload.decode()
        except UnicodeDecodeError:
            return None
        if text[30:31] != " " or text[29] != "Z":
            return None
        ts = text[:30]
        fraction = ts[20:29]
        if not (fraction.isdigit() and fraction.isascii()):
            return None
        if ts[:20] != self._second:
            if not _DOCKER_SECOND.fullmatch(ts, 0, 20):
                return None
            self._second = ts[:20]
        self.last_ts = ts
        return CollectedLine(stream, ts, text[31:-1], self._number(stream, ts))

    def _assemble(self, frame: Frame, partial: _Partial) -> Iterator[CollectedLine]:
        ts, content = split_payload(frame.payload)
        if ts is None:
            ts = self.last_ts or NO_TS
        self.last_ts = ts
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
        return CollectedLine(stream, partial.ts, message, self._number(stream, partial.ts), truncated)

    def _number(self, stream: str, ts: str) -> int:
        """The line's ``seq``: 0, or one more than the stream's previous line when it has the same ts."""
        last = self._last.get(stream)
        seq = last[1] + 1 if last is not None and last[0] == ts else 0
        self._last[stream] = (ts, seq)
        return seq


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
