"""``python -m berth_health``: started by `berth up` with the health service's own credentials.
Only starts the service; what it consumes and answers is declared in :mod:`berth_health.service`."""

from __future__ import annotations

from berth_shared.service import run

from berth_health.migrations import MIGRATIONS
from berth_health.service import CONSUMERS, main

if __name__ == "__main__":
    run("health", "health", MIGRATIONS, CONSUMERS, main)
