"""Seeing the engine skip part of a container's log while the collector reads it behind. Pure.

Docker 20.10's json-file follower reads its file to the end and then opens the newest one: a
reader more than one file (50 MB) behind silently skips the files between. The stream gives no
sign of it but one: the lines of a flood, microseconds apart, suddenly jump ahead in time. A
line is taken as following such a skip when

- the lines before it were a flood (the last :data:`WINDOW` lines were written within
  :data:`FLOOD_NANOS`; an ordinary burst such as a stack trace is far shorter),
- it was written more than :data:`JUMP_NANOS` after the line before it, and
- it was read more than :data:`BEHIND_NANOS` after it was written (only a reader that is
  behind can be skipped past anything).

A flood that really paused while the reader was behind looks the same, so the notice says the
lines *may* have been lost.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

WINDOW = 1000
FLOOD_NANOS = 50_000_000  # 1,000 lines within 50 ms: 20,000 lines/s or more
JUMP_NANOS = 200_000_000
BEHIND_NANOS = 1_000_000_000


@dataclass
class SkipDetector:
    """One container's lines in the order read (both streams: the engine rotates one file)."""

    _recent: deque[int] = field(default_factory=lambda: deque(maxlen=WINDOW))

    def check(self, nanos: int, now_nanos: int) -> int | None:
        """When lines may be missing just before this line (written at ``nanos``, read at
        ``now_nanos``, nanoseconds since the epoch): the time of the line before it; else None."""
        recent = self._recent
        before = recent[-1] if recent else None
        found = (
            before is not None
            and len(recent) == WINDOW
            and nanos - before > JUMP_NANOS
            and before - recent[0] < FLOOD_NANOS
            and now_nanos - nanos > BEHIND_NANOS
        )
        recent.append(nanos)
        return before if found else None
