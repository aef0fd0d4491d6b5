"""Resident memory of every platform process (services, NATS, Postgres, Caddy), idle and with
10 apps deployed. Target (foundation issue): <= 300 MB with 10 apps.
Usage: .venv/bin/python bench/memory.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import psutil
from _common import write_report
from berth_testing import build_busybox_image, start_platform, stop_platform, wait_for

MB = 1024 * 1024


def platform_memory(root_pid: int) -> dict[str, float]:
    """PSS (proportional set size: shared pages split fairly) per process name, in MB."""
    usage: dict[str, float] = {}
    root = psutil.Process(root_pid)
    for proc in [root, *root.children(recursive=True)]:
        try:
            cmd = " ".join(proc.cmdline())
            pss = proc.memory_full_info().pss
        except psutil.Error:
            continue
        name = _label(cmd)
        usage[name] = usage.get(name, 0.0) + pss / MB
    return usage


def _label(cmd: str) -> str:
    for key in ("berth_api", "berth_agent", "berth_router", "berth_logs", "berth_health"):
        if key in cmd:
            return key.removeprefix("berth_")
    for key in ("postgres", "nats-server", "caddy"):
        if key in cmd:
            return key
    return "berth up (supervisor)" if "berth" in cmd else cmd.split(maxsplit=1)[0]


def main() -> None:
    image = build_busybox_image("berth-bench/web:v1", "v1\n")
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as home:
        p = start_platform(Path(home))
        try:
            time.sleep(5)  # let start-up allocations settle before the idle reading
            idle = platform_memory(p.proc.pid)
            for i in range(10):
                assert p.api.post("/api/apps", json={"name": f"mem{i}"}).status_code == 201
                assert p.api.post(f"/api/apps/mem{i}/deploy", json={"image": image}).status_code == 202
            for i in range(10):
                wait_for(lambda i=i: p.api.get(f"/api/apps/mem{i}").json()["status"] == "running", timeout=120)
            time.sleep(5)
            loaded = platform_memory(p.proc.pid)
        finally:
            stop_platform(p)
    rows = "\n".join(
        f"| {name} | {idle.get(name, 0):.1f} | {loaded.get(name, 0):.1f} |" for name in sorted(set(idle) | set(loaded))
    )
    total_idle, total_loaded = sum(idle.values()), sum(loaded.values())
    md = (
        "| process | idle MB (PSS) | 10 apps MB (PSS) |\n|---|---|---|\n"
        f"{rows}\n| **total** | **{total_idle:.1f}** | **{total_loaded:.1f}** |\n"
        f"\nTarget: ≤ 300 MB with 10 apps (Coolify and Dokploy ask for 2 GB; CapRover and Dokku for 1 GB).\n"
    )
    write_report(
        "memory", {"idle_mb": idle, "ten_apps_mb": loaded, "total_idle": total_idle, "total_10": total_loaded}, md
    )


if __name__ == "__main__":
    main()
