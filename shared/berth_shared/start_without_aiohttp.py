"""`python -m berth_shared.start_without_aiohttp MODULE`: run a service module without optional imports it never uses.

nats-py imports aiohttp for its WebSocket transport whenever aiohttp is installed (it is: the
runtime agent's Docker client needs it). Berth speaks plain TCP to NATS, so every other
service would carry ~11 MB of unused aiohttp. This entry point marks aiohttp unavailable
before anything is imported, then runs MODULE as ``__main__``. (Named for what it does: the
launcher's process list then says which services start without aiohttp.)

``pydantic.v1`` goes the same way: FastAPI imports it only to ask whether a route's model is a
Pydantic 1 model (an ImportError answers no), and Berth has none; it is ~1.8 MB of the API.
"""

from __future__ import annotations

import runpy
import sys

UNUSED = ("aiohttp", "pydantic.v1")


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python -m berth_shared.start_without_aiohttp MODULE")
    for name in UNUSED:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    runpy.run_module(argv[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
