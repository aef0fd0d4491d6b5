"""When each app is checked next (pure). Due times are on a monotonic clock and advance by the
interval from the previous *due* time, not from when the check ran, so schedules never drift.
A schedule that fell behind by whole intervals skips them (keeping its phase) rather than
firing a burst of catch-up checks."""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field


@dataclass
class _Entry:
    due: float
    interval: float
    generation: int


@dataclass
class Schedule:
    _heap: list[tuple[float, int, str]] = field(default_factory=list)
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _counter: int = 0
    skipped: int = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def add(self, key: str, interval: float, first_due: float) -> None:
        """(Re)schedule ``key`` every ``interval`` seconds from ``first_due``."""
        if interval <= 0:
            raise ValueError("interval must be positive")
        self._counter += 1
        self._entries[key] = _Entry(first_due, interval, self._counter)
        heapq.heappush(self._heap, (first_due, self._counter, key))

    def set_interval(self, key: str, interval: float) -> None:
        """A new interval from the next due time on (the phase is kept)."""
        entry = self._entries.get(key)
        if entry is not None and entry.interval != interval:
            self.add(key, interval, entry.due)

    def remove(self, key: str) -> None:
        self._entries.pop(key, None)

    def due_of(self, key: str) -> float | None:
        entry = self._entries.get(key)
        return entry.due if entry else None

    def next_due(self) -> float | None:
        self._drop_stale()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> list[tuple[str, float]]:
        """Every key due at ``now`` with the time it was due; each is rescheduled."""
        out: list[tuple[str, float]] = []
        while True:
            self._drop_stale()
            if not self._heap or self._heap[0][0] > now:
                return out
            due, _generation, key = heapq.heappop(self._heap)
            entry = self._entries[key]
            out.append((key, due))
            nxt = due + entry.interval
            if nxt <= now:
                missed = math.floor((now - due) / entry.interval)
                self.skipped += missed
                nxt = due + (missed + 1) * entry.interval
            self._counter += 1
            entry.due, entry.generation = nxt, self._counter
            heapq.heappush(self._heap, (nxt, self._counter, key))

    def _drop_stale(self) -> None:
        while self._heap:
            _, generation, key = self._heap[0]
            entry = self._entries.get(key)
            if entry is not None and entry.generation == generation:
                return
            heapq.heappop(self._heap)
