"""Resident memory of every platform process (services, NATS, Postgres, Caddy), idle and with
10 apps deployed, each read once the platform has settled (idle database connections are closed
after 30 s). Target: <= 350 MB with 10 apps and every feature on (the budget since the
second batch of issues; the foundation issue asked 300). "Every feature": each app runs a web
process, a worker writing a line every second and a cron job every 30 s (ADR 0026), so the
scheduler, the agent's process rollout and one-off runs, and the log pipeline are all in use.

PSS splits a shared page between every process mapping it, including processes that are not
Berth's: another Caddy, NATS or Postgres running on the machine (a test run, a second platform)
makes these figures smaller than the truth. Run it alone; the report lists what else was running.
Usage: .venv/bin/python bench/memory.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import psutil
from _common import write_report
from berth_testing import RunningPlatform, build_busybox_image, start_platform, stop_platform, wait_for

MB = 1024 * 1024
# Longer than the pools' idle-connection lifetime (berth_shared.db.IDLE_CONNECTION_SECONDS).
SETTLE_SECONDS = 40
SHARERS = ("caddy", "nats-server", "postgres", "berth_api", "berth_agent")


def others_running(root_pid: int) -> list[str]:
    """Processes outside this platform that map the same binaries (they deflate its PSS)."""
    mine = {root_pid, *(c.pid for c in psutil.Process(root_pid).children(recursive=True))}
    found = []
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if proc.info["pid"] not in mine and any(s in cmd for s in SHARERS) and "bench/memory.py" not in cmd:
            found.append(f"{proc.info['pid']} {cmd[:80]}")
    return found


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


FORMATION = {
    "processes": {"web": {"count": 1}, "worker": {"command": "sh -c 'while true; do echo working; sleep 1; done'"}},
    "cron": [{"name": "tick", "schedule": "@every 30s", "command": "echo tick"}],
}


def set_formation(p: RunningPlatform, app: str) -> str:
    response = p.api.put(f"/api/apps/{app}/formation", json=FORMATION)
    assert response.status_code in (200, 202), response.text
    return str(response.json()["id"])


def release_status(p: RunningPlatform, app: str, release_id: str) -> str:
    status = str(p.api.get(f"/api/apps/{app}/releases/{release_id}").json()["status"])
    if status == "failed":
        raise RuntimeError(f"{app}: the formation's release failed")
    return status


def main() -> None:
    image = build_busybox_image("berth-bench/web:v1", "v1\n")
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as home:
        p = start_platform(Path(home))
        try:
            time.sleep(SETTLE_SECONDS)  # a settled platform, not one still starting up
            idle = platform_memory(p.proc.pid)
            others = others_running(p.proc.pid)
            for i in range(10):
                assert p.api.post("/api/apps", json={"name": f"mem{i}"}).status_code == 201
                assert p.api.post(f"/api/apps/mem{i}/deploy", json={"image": image}).status_code == 202
            for i in range(10):
                wait_for(lambda i=i: p.api.get(f"/api/apps/mem{i}").json()["status"] == "running", timeout=120)
            releases = [set_formation(p, f"mem{i}") for i in range(10)]
            for i, release_id in enumerate(releases):
                wait_for(lambda i=i, r=release_id: release_status(p, f"mem{i}", r) == "live", timeout=180)
            time.sleep(SETTLE_SECONDS)
            loaded = platform_memory(p.proc.pid)
            others += others_running(p.proc.pid)
        finally:
            stop_platform(p)
    rows = "\n".join(
        f"| {name} | {idle.get(name, 0):.1f} | {loaded.get(name, 0):.1f} |" for name in sorted(set(idle) | set(loaded))
    )
    total_idle, total_loaded = sum(idle.values()), sum(loaded.values())
    md = (
        "| process | idle MB (PSS) | 10 apps MB (PSS) |\n|---|---|---|\n"
        f"{rows}\n| **total** | **{total_idle:.1f}** | **{total_loaded:.1f}** |\n"
        "\nEach of the 10 apps runs web, a worker (a line a second) and a cron job every 30 s.\n"
        "\nTarget: ≤ 350 MB with 10 apps and every feature on "
        "(Coolify and Dokploy ask for 2 GB; CapRover and Dokku for 1 GB).\n"
        + (
            "\n**Not alone** (these share pages with the platform, so its PSS reads low):\n"
            + "".join(f"- `{o}`\n" for o in sorted(set(others)))
            if others
            else "\nMeasured alone: no other Caddy, NATS, Postgres or Berth service was running.\n"
        )
    )
    write_report(
        "memory",
        {
            "idle_mb": idle,
            "ten_apps_mb": loaded,
            "total_idle": total_idle,
            "total_10": total_loaded,
            "others_running": sorted(set(others)),
        },
        md,
    )


if __name__ == "__main__":
    main()
