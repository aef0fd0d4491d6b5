"""``python -m berth_logs``: started by `berth up` with the logs service's own credentials."""

from __future__ import annotations

from berth_shared.service import run
from berth_shared.streams import LOGS_APP_DELETED, LOGS_LINES

from berth_logs.migrations import MIGRATIONS
from berth_logs.service import main

CONSUMERS = [LOGS_APP_DELETED, LOGS_LINES]

if __name__ == "__main__":
    run("logs", "logs", MIGRATIONS, CONSUMERS, main)
