"""How long after the proxy first serves a new app the API still says it is not `running`.

For each of N new apps: deploy, then poll the proxy (the "browser") and the API (the dashboard
and CLI) side by side every 20 ms; the lag is (first API read of `running`) - (first 200 through
the proxy), negative when the API says so first. Before issue 15 it was the agent's wait for
the proxy's check interval, ~1.2 s (up to 2 s under load). Target: p90 <= 0.3 s.
Usage: .venv/bin/python bench/status_lag.py [N]
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from _common import summary, write_report
from berth_testing import RunningPlatform, build_busybox_image, start_platform, stop_platform

POLL = 0.02


def first_time(check: Callable[[], bool], timeout: float = 120) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return time.monotonic()
        except httpx.HTTPError:
            pass
        time.sleep(POLL)
    raise TimeoutError


def one(p: RunningPlatform, name: str, image: str) -> float:
    assert p.api.post("/api/apps", json={"name": name}).status_code == 201
    host = {"Host": f"{name}.berth.test"}
    served: list[float] = []

    def browse() -> None:
        served.append(
            first_time(
                lambda: httpx.get(f"http://127.0.0.1:{p.proxy_port}/", headers=host, timeout=10).status_code == 200
            )
        )

    browser = threading.Thread(target=browse)
    browser.start()
    assert p.api.post(f"/api/apps/{name}/deploy", json={"image": image}).status_code == 202
    running = first_time(lambda: p.api.get(f"/api/apps/{name}").json()["status"] == "running")
    browser.join()
    return running - served[0]


def main(n: int) -> None:
    image = build_busybox_image("berth-bench/web:v1", "v1\n")
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as home:
        p = start_platform(Path(home))
        try:
            lags = [one(p, f"lag{i}", image) for i in range(n)]
        finally:
            stop_platform(p)
    s = summary(lags)
    md = (
        "| measurement | n | p50 s | p90 s | max s |\n|---|---|---|---|---|\n"
        f"| API reads running - proxy first serves | {s['n']} | {s['p50']:.3f} | {s['p90']:.3f} | {s['max']:.3f} |\n"
        "\nNegative: the API said `running` before the first 200 arrived (target: p90 <= 0.3 s).\n"
    )
    write_report("status_lag", {"lag": s}, md)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
