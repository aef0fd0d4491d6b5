"""One HTTP check from outside the container: ``GET path`` on the slot's bridge address, with a
hard timeout, through the shared minimal client (``berth_shared.http1``: status line only,
``Connection: close``): cheap enough for hundreds of checks a second, and it needs nothing
inside the image."""

from __future__ import annotations

import time
from dataclasses import dataclass

from berth_shared import http1
from berth_shared.probes import PROBE_USER_AGENT

# Who is asking (apps' logs can leave Berth's own probes out) and for what.
HEADERS = (("User-Agent", PROBE_USER_AGENT), ("Accept", "*/*"))


@dataclass(frozen=True)
class ProbeResult:
    status_code: int | None
    error: str | None
    latency_ms: int


async def http_get_status(host: str, port: int, path: str, timeout: float) -> ProbeResult:
    started = time.perf_counter()
    code: int | None = None
    error: str | None = None
    try:
        code = await http1.get_status(host, port, path, timeout=timeout, version="1.1", headers=HEADERS)
    except http1.HttpError as exc:
        error = str(exc)
    return ProbeResult(code, error, int((time.perf_counter() - started) * 1000))
