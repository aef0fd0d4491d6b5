"""``python -m berth_logs``: started by `berth up` with the logs service's own credentials."""

from __future__ import annotations

from berth_shared.service import run
from berth_shared.streams import LOGS_APP_DELETED

from berth_logs.migrations import MIGRATIONS
from berth_logs.service import main

if __name__ == "__main__":
    run("logs", "logs", MIGRATIONS, [LOGS_APP_DELETED], main)
