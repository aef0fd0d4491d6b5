"""The test app's worker: prints a line every 0.5 s naming its process and release, exits 0 on
SIGTERM (a queue worker finishing its job and leaving).

Usage: python worker.py [--name NAME] [--crash-after SECONDS]
The process name is ``BERTH_PROCESS`` when the platform sets it, else ``--name`` (default
``worker``). ``--crash-after`` exits 3 after that many seconds (a worker that keeps dying).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
import time

VERSION = os.environ.get("APP_VERSION", "dev")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="worker")
    parser.add_argument("--crash-after", type=float)
    args = parser.parse_args()
    process = os.environ.get("BERTH_PROCESS") or args.name
    release = os.environ.get("BERTH_RELEASE", "-")
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    who = f"process={process} release={release} version={VERSION} host={socket.gethostname()}"
    print(f"worker started {who}", flush=True)
    started, tick = time.monotonic(), 0
    while not stopping.wait(0.5):
        print(f"worker tick {tick} {who}", flush=True)
        tick += 1
        if args.crash_after is not None and time.monotonic() - started >= args.crash_after:
            print(f"worker crashing {who}", file=sys.stderr, flush=True)
            return 3
    print(f"worker stopping on SIGTERM {who}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
