"""Which of the logs service's two lanes a container's batches take: a container writing many
lines goes to the bulk lane (``berth.logs.<app>.<stream>.bulk``), stored only when no prompt
batch waits, so a flood never delays a quiet app's lines. It stays there until it has been
quiet for a while, so its lines are not reordered back and forth between the lanes."""

from __future__ import annotations

from dataclasses import dataclass

# A flush this big (200 lines within the batcher's 0.2 s, an app writing ~1,000 lines/s or more,
# or a backlog being read) marks the container as bulk ...
BULK_LINES = 200
# ... until it has flushed nothing that big for this long.
QUIET_SECONDS = 5.0


@dataclass
class Lane:
    bulk_until: float = float("-inf")

    def bulk(self, lines: int, now: float) -> bool:
        """Whether a flush of ``lines`` lines at ``now`` (monotonic seconds) goes to the bulk lane."""
        if lines >= BULK_LINES:
            self.bulk_until = now + QUIET_SECONDS
        return now < self.bulk_until
