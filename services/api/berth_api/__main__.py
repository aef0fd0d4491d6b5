"""``python -m berth_api``: the API gateway process (started by `berth up`). Only starts the
service; what it consumes, answers and serves is declared in :mod:`berth_api.service`."""

from __future__ import annotations

from berth_shared.service import run

from berth_api.migrations import MIGRATIONS
from berth_api.service import CONSUMERS, main

if __name__ == "__main__":
    # The default 5: HTTP requests, the event appliers, the desired-state answers, the cron loop
    # and the outbox share them; 3 measured a slower API under load (ADR 0001, addendum
    # "Postgres backends"). The outbox's LISTEN connection is its own.
    run("api", "api", MIGRATIONS, CONSUMERS, main)
