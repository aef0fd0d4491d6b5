"""Failed authentications per client, with lockouts that double while the failures go on.

More than ``failures`` failures within ``window`` seconds lock the client out for
``base_lockout`` seconds; each further lockout doubles (up to ``max_lockout``) until the client
has been quiet (no failure) for ``forgive_after`` seconds. Memory is bounded: at most
``max_clients`` clients are remembered, the least recently failing forgotten first, so an
attacker rotating addresses cannot grow it. The clock is injected (monotonic seconds)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Limits:
    failures: int = 10
    window: float = 60.0
    base_lockout: float = 60.0
    max_lockout: float = 3600.0
    forgive_after: float = 3600.0
    max_clients: int = 10_000


@dataclass(frozen=True)
class Lockout:
    """A lockout that just began (reported once, for the log and the audit entry)."""

    client: str
    seconds: int
    failures: int  # failures within the window that caused it
    level: int  # 1 for the first lockout, 2 for the next (doubled) one, ...


@dataclass
class _Record:
    recent: deque[float] = field(default_factory=deque)
    level: int = 0
    locked_until: float = 0.0
    last_failure: float = -math.inf


class FailureLimiter:
    def __init__(self, limits: Limits | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or Limits()
        self.clock = clock
        self._clients: OrderedDict[str, _Record] = OrderedDict()

    def __len__(self) -> int:
        return len(self._clients)

    def retry_after(self, client: str) -> int | None:
        """Whole seconds until ``client`` may try again, or None when it is not locked out."""
        record = self._clients.get(client)
        if record is None:
            return None
        remaining = record.locked_until - self.clock()
        return math.ceil(remaining) if remaining > 0 else None

    def failure(self, client: str) -> Lockout | None:
        """Count a failed authentication; the lockout it starts, if any."""
        now = self.clock()
        limits = self.limits
        record = self._clients.pop(client, None) or _Record()
        self._clients[client] = record  # most recently failing last
        self._forget_oldest()
        if now < record.locked_until:
            return None
        if now - record.last_failure > limits.forgive_after:
            record.level = 0
        record.last_failure = now
        while record.recent and record.recent[0] <= now - limits.window:
            record.recent.popleft()
        record.recent.append(now)
        if len(record.recent) <= limits.failures:
            return None
        seconds = min(limits.base_lockout * 2 ** min(record.level, 32), limits.max_lockout)
        record.level += 1
        record.locked_until = now + seconds
        failures = len(record.recent)
        record.recent.clear()
        return Lockout(client, math.ceil(seconds), failures, record.level)

    def _forget_oldest(self) -> None:
        while len(self._clients) > self.limits.max_clients:
            self._clients.popitem(last=False)
