"""What every rollout step shares: the failure that fails the release, and the step's stopwatch."""

from __future__ import annotations

import time


class RolloutFailed(Exception):
    """Docker refused a step of a rollout (or the image cannot be had): the release fails with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Stopwatch:
    def __init__(self) -> None:
        self._start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self._start

    def lap_ms(self) -> int:
        now = time.monotonic()
        elapsed, self._start = now - self._start, now
        return int(elapsed * 1000)
