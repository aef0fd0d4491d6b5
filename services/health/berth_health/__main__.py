"""``python -m berth_health``: started by `berth up` with the health service's own credentials."""

from __future__ import annotations

from berth_shared.service import run
from berth_shared.streams import HEALTH_APP_DELETED

from berth_health.migrations import MIGRATIONS
from berth_health.service import main

if __name__ == "__main__":
    run("health", "health", MIGRATIONS, [HEALTH_APP_DELETED], main)
