"""The engine's json-file log read from disk: entries, lines, and which file comes next. Pure.

With the ``json-file`` driver the engine writes each container's output to ``LogPath`` as one
JSON object a line, ``{"log": "...", "stream": "stdout"|"stderr", "time": "<RFC 3339 nano>"}``
(``time`` in UTC with trailing zeros of the fraction trimmed; bytes that are not UTF-8 already
replaced by U+FFFD). A line over 16 KiB is split into several entries, all but the last without
the trailing newline; a stopped container's last line may lack it too. At ``max-size`` the file
is renamed to ``<LogPath>.1`` (``.1`` to ``.2`` and so on before it, the one beyond ``max-file``
deleted) and a new, empty ``LogPath`` is created: a renamed file keeps its inode.

:func:`parse_entries` turns whole lines of a file into :class:`Entry` (one msgspec decode per
read), :class:`EntryAssembler` turns entries into the same :class:`CollectedLine` the engine's
HTTP stream gives (:mod:`berth_agent.logs.decide_frames`: timestamps in the engine's fixed form,
``seq`` among same-timestamp lines of a stream, split lines joined up to ``MAX_LINE_BYTES``),
and :func:`next_file` decides, from the inodes the log's names hold now, which file follows the
one read to its end and whether files between may have been deleted before they were read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import msgspec

from berth_agent.logs.decide_frames import (
    MAX_LINE_BYTES,
    NO_TS,
    STDERR,
    STDOUT,
    TRUNCATED_MARK,
    CollectedLine,
    cut_utf8,
)

JSON_FILE = "json-file"
MAX_ROTATED = 100  # ``<LogPath>.1`` ... at most this many rotated names are looked at


def log_file_of(inspect: Mapping[str, Any], *, from_disk: bool = True) -> str:
    """The container's json-file log to read from disk (its inspect's ``LogPath``); "" to follow
    it over the engine's API: another driver, no path, or reading from disk turned off."""
    driver = ((inspect.get("HostConfig") or {}).get("LogConfig") or {}).get("Type")
    if not from_disk or driver != JSON_FILE:
        return ""
    return str(inspect.get("LogPath") or "")


class Entry(msgspec.Struct, frozen=True):
    log: str = ""
    stream: str = ""
    time: str = ""


_entries = msgspec.json.Decoder(list[Entry])
_entry = msgspec.json.Decoder(Entry)


@dataclass(frozen=True)
class Parsed:
    entries: list[Entry]
    used: int  # bytes of the input that were whole lines (the rest waits for more)
    bad: int = 0  # lines that were not an entry (skipped)


def parse_entries(data: bytes, *, final: bool = False) -> Parsed:
    """The entries of ``data``'s whole lines (``final``: the last one even without a newline,
    the file will not grow). A line that is not an entry is skipped and counted."""
    end = len(data) if final else data.rfind(b"\n") + 1
    if end <= 0:
        return Parsed([], 0)
    whole = data[:end].rstrip(b"\n")
    if not whole:
        return Parsed([], end)
    try:  # one decode for the whole read: the lines joined as a JSON array
        return Parsed(_entries.decode(b"[" + whole.replace(b"\n", b",") + b"]"), end)
    except msgspec.DecodeError:
        pass
    entries: list[Entry] = []
    bad = 0
    for raw in whole.split(b"\n"):
        try:
            entries.append(_entry.decode(raw))
        except msgspec.DecodeError:
            bad += 1
    return Parsed(entries, end, bad)


_ZULU = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.([0-9]{1,9}))?Z")
_DOCKER_SECOND = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.")


def fixed_ts(time: str) -> str | None:
    """An entry's ``time`` in the engine's fixed form (UTC, nine fraction digits), as its HTTP
    stream writes it, so cursors and line keys are the same whichever way a line was read; None
    for anything else (the engine writes UTC only)."""
    m = _ZULU.fullmatch(time)
    if m is None:
        return None
    return f"{time[:19]}.{(m.group(1) or '').ljust(9, '0')}Z"


@dataclass
class _Partial:
    ts: str = ""
    parts: list[str] = field(default_factory=list)
    size: int = 0  # UTF-8 bytes of the parts
    dropping: bool = False  # the line was cut at MAX_LINE_BYTES; skip its remaining entries


class EntryAssembler:
    """Entries -> lines, per stream: joins split entries, numbers same-timestamp lines. The same
    interface as :class:`~berth_agent.logs.decide_frames.LineAssembler` where the collector uses it."""

    def __init__(self, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self._max = max_line_bytes
        self._partial: dict[str, _Partial] = {STDOUT: _Partial(), STDERR: _Partial()}
        self._last: dict[str, tuple[str, int]] = {}  # stream -> (ts, seq) of its last line
        self._second = ""  # ``YYYY-MM-DDTHH:MM:SS.`` already seen to be well formed
        self.last_ts = ""  # timestamp of the last entry (any stream)
        self.bad_times = 0  # entries whose time was not the engine's (stamped with the last good one)

    def feed_all(self, entries: Sequence[Entry]) -> list[CollectedLine]:
        """The lines ``entries`` complete, in order."""
        lines: list[CollectedLine] = []
        partials, last = self._partial, self._last
        for entry in entries:
            stream, text = entry.stream, entry.log
            partial = partials.get(stream)
            if partial is None:
                continue  # neither stdout nor stderr: nothing an app wrote
            ts = entry.time
            if len(ts) != 30 or ts[29] != "Z" or ts[:20] != self._second:
                ts = self._ts(ts)
            self.last_ts = ts
            if text[-1:] == "\n" and not partial.parts and not partial.dropping:
                # The common entry: a whole line (the engine splits at 16 KiB: under the cap).
                previous = last.get(stream)
                seq = previous[1] + 1 if previous is not None and previous[0] == ts else 0
                last[stream] = (ts, seq)
                lines.append(CollectedLine(stream, ts, text[:-1], seq))
                continue
            line = self._assemble(stream, ts, text, partial)
            if line is not None:
                lines.append(line)
        return lines

    def _ts(self, time: str) -> str:
        ts = fixed_ts(time)
        if ts is None:
            self.bad_times += 1
            return self.last_ts or NO_TS
        if ts[:20] != self._second and _DOCKER_SECOND.fullmatch(ts, 0, 20):
            self._second = ts[:20]
        return ts

    def _assemble(self, stream: str, ts: str, text: str, partial: _Partial) -> CollectedLine | None:
        complete = text.endswith("\n")
        if complete:
            text = text[:-1]
        if partial.dropping:
            if complete:
                self._partial[stream] = _Partial()
            return None
        if not partial.parts:
            partial.ts = ts
        partial.parts.append(text)
        partial.size += len(text.encode())
        if partial.size > self._max:
            line = self._emit(stream, partial, truncated=True)
            self._partial[stream] = _Partial(dropping=not complete)
            return line
        if complete:
            line = self._emit(stream, partial, truncated=False)
            self._partial[stream] = _Partial()
            return line
        return None

    def finish(self) -> list[CollectedLine]:
        """The end of a stopped container's log: a last line without a newline is a line."""
        lines: list[CollectedLine] = []
        for stream, partial in self._partial.items():
            if partial.parts and not partial.dropping:
                lines.append(self._emit(stream, partial, truncated=False))
            self._partial[stream] = _Partial()
        return lines

    def pending(self, stream: str) -> bool:
        """A line of ``stream`` has started but not ended (its first entry's ts is not handed on)."""
        partial = self._partial[stream]
        return bool(partial.parts) or partial.dropping

    def _emit(self, stream: str, partial: _Partial, *, truncated: bool) -> CollectedLine:
        message = "".join(partial.parts)
        if truncated:
            message = cut_utf8(message.encode(), self._max).decode("utf-8", errors="ignore") + TRUNCATED_MARK
        previous = self._last.get(stream)
        seq = previous[1] + 1 if previous is not None and previous[0] == partial.ts else 0
        self._last[stream] = (partial.ts, seq)
        return CollectedLine(stream, partial.ts, message, seq, truncated)


# -- the files ---------------------------------------------------------------------------------


def rotated_name(log_path: str, index: int) -> str:
    """The name of the ``index``-th file of the ring: ``LogPath`` itself for 0, else ``LogPath.<index>``."""
    return log_path if index == 0 else f"{log_path}.{index}"


class Loss(Enum):
    NONE = "none"
    # Files between may have been deleted unread (the one read, or the last one seen, was deleted
    # before the file after it was seen: the names cannot tell whether that is the oldest there).
    MAYBE = "maybe"


MAX_HELD = 2  # files after the one being read held open: a stalled reader keeps at most this much


@dataclass(frozen=True)
class Next:
    """What follows the file read to its end: ``inode`` (None: nothing yet, wait for more) and
    whether files between the two may have been lost."""

    inode: int | None
    loss: Loss = Loss.NONE


def files_after(last: int, ring: Sequence[int]) -> tuple[list[int], bool]:
    """The files newer than ``last`` (the newest file known: the one read or the last one held)
    in ``ring`` (inodes, oldest first), and whether files between may be missing: ``last`` was
    deleted (rotated out), so the oldest file there may or may not be the one after it."""
    if last in ring:
        return list(ring[ring.index(last) + 1 :]), False
    return list(ring), bool(ring)


def next_file(current: int, ring: Sequence[int]) -> Next:
    """With no file held after ``current`` (read to its end): the file after it in ``ring`` (the
    inodes the log's names hold now, oldest first: ``LogPath.<n>`` ... ``LogPath``); when it was
    deleted, the oldest file there, and files between may have been lost."""
    after, gap = files_after(current, ring)
    if not after:
        return Next(None)
    return Next(after[0], Loss.MAYBE if gap else Loss.NONE)


@dataclass(frozen=True)
class Spot:
    """Where an earlier read of this log ended with everything read published: a file and offset."""

    inode: int
    offset: int


def start_at(ring: Sequence[int], spot: Spot | None) -> tuple[int, int] | None:
    """The file (inode) and offset to begin a read at: where the last read ended when that file is
    still there, else the oldest file (the caller's cursor skips what was published). None: no file."""
    if spot is not None and spot.inode in ring:
        return spot.inode, spot.offset
    if not ring:
        return None
    return ring[0], 0
