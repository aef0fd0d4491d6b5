"""Seeing the engine skip part of a container's log while the collector reads it behind. Pure.

Docker 20.10's json-file follower reads its file to the end and then opens the newest one: a
reader more than one file (50 MB) behind silently skips the files between. The stream gives no
sign of it but one: the lines of a flood, microseconds apart, suddenly jump ahead in time. A
line is taken as following such a skip when

- it was written more than :data:`JUMP_NANOS` after the line before it,
- it was read more than :data:`BEHIND_NANOS` after it was written (only a reader that is
  behind can be skipped past anything), and
- there is flood evidence: the last :data:`WINDOW` lines before it were written within
  :data:`FLOOD_NANOS` (an ordinary burst such as a stack trace is far shorter).

Early in a read there are fewer than ``WINDOW`` lines before it; the evidence is then looked
for after it: the ``WINDOW`` lines from it on were written within ``FLOOD_NANOS``, and the lines
read before it, at least :data:`EARLY_LINES`, were written at least as fast (a skip after fewer
is not told: a banner, a pause and a flood look the same). The same holds at the start of a
fresh container's log (no cursor: the engine may have rotated its first files away before the
collector read any): its first line read counts as a jump when it was written more than
``JUMP_NANOS`` after the container started (``State.StartedAt``). A skip seen looking forward
is told once the evidence is in (at most ``WINDOW`` lines later; nothing is held back), by a
notice at the position before its line, so it still sorts before that line. A quiet app whose
first line comes late, or a container read promptly, is no flood read behind: not told.

A flood that really paused (or began late) while the reader was behind looks the same, so the
notice says the lines *may* have been lost.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

WINDOW = 1000
FLOOD_NANOS = 50_000_000  # 1,000 lines within 50 ms: 20,000 lines/s or more
JUMP_NANOS = 200_000_000
BEHIND_NANOS = 1_000_000_000
EARLY_LINES = 100  # lines before a jump that can show, by their rate, that they were a flood

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Skip(Generic[T]):
    """Lines may be missing between ``after`` (nanoseconds since the epoch: the line read
    before, or the container's start) and ``line``, the first line read after the skip."""

    after: int
    line: T


@dataclass
class SkipDetector(Generic[T]):
    """One read of one container: its lines in the order read (both streams: the engine
    rotates one file). ``started``: the container's start (nanoseconds) when the read begins
    with no cursor, so that its first line may follow a skip; None on a resumed read."""

    started: int | None = None
    _recent: deque[int] = field(default_factory=lambda: deque(maxlen=WINDOW))
    _pending: list[Skip[T]] = field(default_factory=list)  # waiting for the flood after them
    _since: int = 0  # when the line of the newest pending skip was written
    _seen: int = 0  # lines read from that line on

    def check(self, nanos: int, now_nanos: int, line: T) -> tuple[Skip[T], ...]:
        """The skips known once ``line`` (written at ``nanos``, read at ``now_nanos``,
        nanoseconds since the epoch) is read: usually none; one just before ``line``; or ones
        before earlier lines whose flood evidence this line completes."""
        recent = self._recent
        before = recent[-1] if recent else self.started
        jumped = before is not None and nanos - before > JUMP_NANOS and now_nanos - nanos > BEHIND_NANOS
        if not jumped and not self._pending:
            recent.append(nanos)
            return ()  # the empty tuple is a constant: nothing allocated per line
        return self._decide(before if jumped else None, nanos, line)

    def _decide(self, jump_from: int | None, nanos: int, line: T) -> tuple[Skip[T], ...]:
        recent = self._recent
        told: tuple[Skip[T], ...] = ()
        read = len(recent)
        # Too few lines before it to show a flood (none: a fresh container's first line), but
        # those there are (at least EARLY_LINES) were written as fast as a flood's.
        early = read < WINDOW and (
            not read or (read >= EARLY_LINES and (recent[-1] - recent[0]) * WINDOW < FLOOD_NANOS * read)
        )
        if jump_from is not None and early:
            # Look for the flood after it. A skip still pending (the start's) had a flood up to
            # here, so the flood from here on confirms both.
            self._pending.append(Skip(jump_from, line))
            self._since, self._seen = nanos, 1
        else:
            if self._pending:
                if nanos - self._since >= FLOOD_NANOS:
                    self._pending = []  # no flood after it: not a skip we can tell
                else:
                    self._seen += 1
                    if self._seen >= WINDOW:
                        told, self._pending = tuple(self._pending), []
            if jump_from is not None and len(recent) == WINDOW and jump_from - recent[0] < FLOOD_NANOS:
                told += (Skip(jump_from, line),)
        recent.append(nanos)
        return told

    @property
    def past_start(self) -> bool:
        """The start of the read is judged (a skip before its first lines told or ruled out) and
        the window is full: reading a json-file log from disk, nothing later needs guessing."""
        return not self._pending and len(self._recent) >= WINDOW


class NoSkips(Generic[T]):
    """A read whose skips are known without guessing (the json-file log read from disk)."""

    def check(self, nanos: int, now_nanos: int, line: T) -> tuple[Skip[T], ...]:
        return ()
