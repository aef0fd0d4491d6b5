"""``python -m berth_router``: started by `berth up` with the router's own credentials."""

from __future__ import annotations

from berth_shared.service import run
from berth_shared.streams import ROUTER_APP_EVENTS

from berth_router.migrations import MIGRATIONS
from berth_router.router import main

if __name__ == "__main__":
    run("router", "router", MIGRATIONS, [ROUTER_APP_EVENTS], main)
