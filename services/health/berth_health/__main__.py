"""``python -m berth_health``: started by `berth up` with the health service's own credentials.
Only starts the service; what it consumes and answers is declared in :mod:`berth_health.service`."""

from __future__ import annotations

from berth_shared.service import run

from berth_health.migrations import MIGRATIONS
from berth_health.service import CONSUMERS, main

if __name__ == "__main__":
    # One connection: a round of checks, a webhook's delivery record and an answer each hold it for
    # a few milliseconds, never while waiting on anything else (ADR 0001, addendum "Postgres
    # backends").
    run("health", "health", MIGRATIONS, CONSUMERS, main, pool_size=1)
