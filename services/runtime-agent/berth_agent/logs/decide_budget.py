"""Per-app log budgets, and the notices that say what was not kept. Pure.

Each app may write its budget's lines a second sustained, in bursts of up to its burst
(:mod:`berth_shared.log_budget`; a token bucket shared by the app's containers). Time is the lines'
own Docker timestamps, so the budget measures how fast the app wrote, not how fast the agent
happened to read (a backlog read after a restart is judged like it was written).

Once the bucket runs dry it stays shut until it holds a second's worth of lines again (or its
whole burst, when that is less): a flood keeps whole runs of consecutive lines with one notice
between runs, instead of every n-th line with a notice before each (a sustained flood at 20x the
budget used to store as many notices as lines).

A line over budget is dropped and counted per stream. The count is never lost silently: it
becomes a notice line in the app's logs, ``berth: dropped N lines (app wrote faster than R
lines/s)``, written at the position (timestamp, seq) of the last line it dropped — a position
no stored line has, so a re-read stores the notice once. A notice is written when the app's
next line is kept, when the drops have gone on for :data:`NOTICE_EVERY_SECONDS`, and at the end
of a read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from berth_agent.logs.decide_frames import CollectedLine, ts_nanos

NOTICE_EVERY_SECONDS = 1.0
NANOS = 1_000_000_000


@dataclass(slots=True)
class TokenBucket:
    """``rate`` lines a second, at most ``burst`` at once; refilled by line timestamps (nanoseconds)."""

    rate: int
    burst: int
    tokens: float = -1.0  # full on first use
    at: int | None = None
    dry: bool = False  # ran out: shut until it holds :meth:`reopen_at` tokens again

    def reopen_at(self) -> float:
        return float(max(1, min(self.burst, int(self.rate * NOTICE_EVERY_SECONDS))))

    def take(self, nanos: int) -> bool:
        at = self.at
        if at is None:
            self.tokens, self.at = float(self.burst), nanos
        elif nanos > at:
            tokens = self.tokens + (nanos - at) * self.rate / NANOS
            self.tokens = tokens if tokens < self.burst else float(self.burst)
            self.at = nanos
        if self.dry and self.tokens < self.reopen_at():
            return False
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.dry = False
            return True
        self.dry = True
        return False


def dropped_text(count: int, rate: int) -> str:
    noun = "line" if count == 1 else "lines"
    return f"berth: dropped {count} {noun} (app wrote faster than {rate} lines/s)"


ROTATED = "the engine rotated its log before Berth read them"
SKIPPED = "the engine rotated its log while Berth read it behind"


def lost_text(after_ts: str, before_ts: str, reason: str = ROTATED) -> str:
    may = "may have been lost" if reason == SKIPPED else "lost"
    return f"berth: lines {may} between {after_ts} and {before_ts} ({reason})"


def lost_notice(stream: str, after_ts: str, first_kept: CollectedLine, reason: str = ROTATED) -> CollectedLine:
    """The notice of a gap before ``first_kept``: at its timestamp with seq -1 (before every line
    of that timestamp; real lines have seq >= 0, so it collides with none)."""
    return CollectedLine(stream, first_kept.ts, lost_text(after_ts, first_kept.ts, reason), seq=-1, lost=True)


@dataclass(slots=True)
class _Drops:
    count: int = 0
    last: CollectedLine | None = None
    since: int = 0  # ts (nanos) of the first drop not yet noticed


@dataclass(slots=True)
class Gate:
    """One read of one container: lines through the app's bucket, drops turned into notices."""

    bucket: TokenBucket
    notice_every_nanos: int = int(NOTICE_EVERY_SECONDS * NANOS)
    dropped: int = 0  # lines dropped by this gate (all streams)
    _drops: dict[str, _Drops] = field(default_factory=dict)  # streams with drops not yet told

    def offer(self, line: CollectedLine, nanos: int | None = None) -> list[CollectedLine]:
        """What to keep of ``line`` (written at ``nanos``, parsed from its timestamp when not
        given): itself (after a notice of the drops before it), nothing (dropped), or a notice
        in its place when the drops have gone on long enough."""
        if nanos is None:
            try:
                nanos = ts_nanos(line.ts)
            except ValueError:
                nanos = self.bucket.at or 0
        if self.bucket.take(nanos):
            notice = self._notice(line.stream) if self._drops else None
            return [notice, line] if notice else [line]
        self.dropped += 1
        drops = self._drops.get(line.stream)
        if drops is None:
            drops = self._drops[line.stream] = _Drops(since=nanos)
        drops.count += 1
        drops.last = line
        if nanos - drops.since >= self.notice_every_nanos:
            notice = self._notice(line.stream)
            return [notice] if notice else []
        return []

    def pending(self) -> int:
        return sum(d.count for d in self._drops.values())

    def finish(self) -> list[CollectedLine]:
        """The notices of drops not yet told (end of a read, or the app went quiet)."""
        return [n for n in (self._notice(stream) for stream in sorted(self._drops)) if n]

    def _notice(self, stream: str) -> CollectedLine | None:
        drops = self._drops.pop(stream, None)
        if drops is None or drops.last is None:
            return None
        return msgspec.structs.replace(
            drops.last, message=dropped_text(drops.count, self.bucket.rate), truncated=False, dropped=drops.count
        )
