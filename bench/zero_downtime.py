"""Continuous load through the proxy (127.0.0.1 only, bounded) during 50 deploys, 50 restarts
and 10 rollbacks: requests, failures (target 0), and p50/p99 latency during flips against
steady state in the same run (target: p99 during flips <= 2x steady).
Usage: .venv/bin/python bench/zero_downtime.py [deploys restarts rollbacks]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from _common import percentile, write_report
from berth_testing import LoadGenerator, build_busybox_image, start_platform, stop_platform, wait_for


def wait_live(p, release_id: str) -> None:  # type: ignore[no-untyped-def]
    def done() -> bool:
        r = p.api.get(f"/api/apps/zd/releases/{release_id}").json()
        if r["status"] == "failed":
            raise RuntimeError(f"release failed: {r['reason']}")
        return bool(r["status"] == "live")

    wait_for(done, timeout=120, interval=0.05)


def main(deploys: int, restarts: int, rollbacks: int) -> None:
    v1 = build_busybox_image("berth-bench/web:v1", "v1\n")
    v2 = build_busybox_image("berth-bench/web:v2", "v2\n")
    windows: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as home:
        p = start_platform(Path(home))
        try:
            assert p.api.post("/api/apps", json={"name": "zd", "stopTimeoutSeconds": 5}).status_code == 201
            wait_live(p, p.api.post("/api/apps/zd/deploy", json={"image": v1}).json()["id"])
            wait_for(lambda: p.proxy_get("zd.berth.test").text == "v1\n")
            plan = (
                [("deploy", i) for i in range(deploys)]
                + [("restart", i) for i in range(restarts)]
                + [("rollback", i) for i in range(rollbacks)]
            )
            with LoadGenerator(p.proxy_port, "zd.berth.test", workers=4, max_seconds=1800) as load:
                time.sleep(10)  # steady-state window before the first flip
                steady_end = time.monotonic()
                for kind, i in plan:
                    t0 = time.monotonic()
                    if kind == "deploy":
                        r = p.api.post("/api/apps/zd/deploy", json={"image": v2 if i % 2 == 0 else v1})
                    elif kind == "restart":
                        r = p.api.post("/api/apps/zd/restart")
                    else:
                        r = p.api.post("/api/apps/zd/rollback")
                    assert r.status_code == 202, r.text
                    wait_live(p, r.json()["id"])
                    windows.append((t0, time.monotonic()))
                samples = list(load.samples)
        finally:
            stop_platform(p)
    steady = [s.latency for s in samples if s.at < steady_end and s.status == 200]
    during = [s.latency for s in samples if any(a <= s.at <= b for a, b in windows) and s.status == 200]
    failures = [s for s in samples if s.status != 200]
    s50, s99 = percentile(steady, 0.5) * 1000, percentile(steady, 0.99) * 1000
    f50, f99 = percentile(during, 0.5) * 1000, percentile(during, 0.99) * 1000
    md = (
        f"Flips: {deploys} deploys, {restarts} restarts, {rollbacks} rollbacks under 4 keep-alive clients.\n\n"
        f"| | requests | p50 ms | p99 ms |\n|---|---|---|---|\n"
        f"| steady state | {len(steady)} | {s50:.2f} | {s99:.2f} |\n"
        f"| during flips | {len(during)} | {f50:.2f} | {f99:.2f} |\n\n"
        f"Total requests: {len(samples)}; **failed: {len(failures)}** (target 0). "
        f"p99 during flips / steady p99 = **{f99 / s99:.2f}x** (target ≤ 2x).\n"
    )
    if failures:
        md += f"\nFirst failures: {[(f.status, f.error) for f in failures[:5]]}\n"
    data = {
        "requests": len(samples),
        "failures": len(failures),
        "steady": {"n": len(steady), "p50_ms": s50, "p99_ms": s99},
        "flips": {"n": len(during), "p50_ms": f50, "p99_ms": f99},
        "p99_ratio": f99 / s99,
    }
    write_report("zero_downtime", data, md)


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:4]] or [50, 50, 10]
    main(*args)
