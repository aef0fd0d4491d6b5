"""``python -m berth_logs``: started by `berth up` with the logs service's own credentials. Only
starts the service; what it consumes and answers is declared in :mod:`berth_logs.service`."""

from __future__ import annotations

from berth_shared.service import run

from berth_logs.migrations import MIGRATIONS
from berth_logs.service import CONSUMERS, main

if __name__ == "__main__":
    # An ingest transaction and a page or search at the same time: a reader never waits for a
    # pull's insert (ADR 0001, addendum "Postgres backends").
    run("logs", "logs", MIGRATIONS, CONSUMERS, main, pool_size=2)
