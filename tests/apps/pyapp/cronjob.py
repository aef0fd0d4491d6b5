"""The test app's cron job: prints its start, works SECONDS, prints its end.

Usage: python cronjob.py SECONDS [--name NAME] [--exit CODE]
Exits CODE (default 0) when done; on SIGTERM (a timeout, ``replace``, a stop) it says so and
exits 143.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from datetime import UTC, datetime


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("seconds", type=float)
    parser.add_argument("--name", default="job")
    parser.add_argument("--exit", type=int, default=0)
    args = parser.parse_args()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())
    who = f"name={args.name} release={os.environ.get('BERTH_RELEASE', '-')}"
    print(f"cron start {who} at={datetime.now(UTC).isoformat()}", flush=True)
    if stopped.wait(args.seconds):
        print(f"cron stopped {who}", flush=True)
        return 143
    print(f"cron end {who} at={datetime.now(UTC).isoformat()} exit={args.exit}", flush=True)
    return args.exit


if __name__ == "__main__":
    sys.exit(main())
