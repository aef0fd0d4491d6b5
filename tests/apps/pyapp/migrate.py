"""The test app's release command: prints what it applies, then exits with ``MIGRATE_EXIT``
(default 0; ``--exit`` overrides it). ``MIGRATE_SLEEP`` seconds of work before the end (a slow
migration, or one that runs past its timeout).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

VERSION = os.environ.get("APP_VERSION", "dev")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--exit", type=int, default=int(os.environ.get("MIGRATE_EXIT") or 0))
    args = parser.parse_args()
    print(f"migrate: version {VERSION} release {os.environ.get('BERTH_RELEASE', '-')}", flush=True)
    for step in ("0001_initial", "0002_add_index"):
        print(f"migrate: applying {step}", flush=True)
    time.sleep(float(os.environ.get("MIGRATE_SLEEP") or 0))
    if args.exit:
        print(f"migrate: failed with code {args.exit}", file=sys.stderr, flush=True)
        return args.exit
    print("migrate: done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
