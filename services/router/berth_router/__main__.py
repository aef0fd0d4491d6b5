"""``python -m berth_router``: started by `berth up` with the router's own credentials. Only
starts the service; what it consumes and runs is declared in :mod:`berth_router.service`."""

from __future__ import annotations

from berth_shared.service import run

from berth_router.migrations import MIGRATIONS
from berth_router.service import CONSUMERS, main

if __name__ == "__main__":
    # One connection: route and domain changes are a few small statements each, never held while
    # Caddy is being told (ADR 0001, addendum "Postgres backends").
    run("router", "router", MIGRATIONS, CONSUMERS, main, pool_size=1)
