"""Recovery: how fast every app serves again after the Docker engine restarts, and what a
``kill -9`` of each platform process costs requests through the proxy.

Engine restarts run on an engine of the bench's own (``tests/support/second_engine.py``), with N
apps (default 3 and 10), three ways each:
- ``stop``: a clean engine stop and start (``systemctl restart docker``: containers get SIGTERM);
- ``kill``: dockerd SIGKILLed and started again (containers are killed when it starts);
- ``kill+task``: as ``kill``, with one app's container left in the "task already exists" state
  (the engine killed while it was starting; the agent is paused while that is arranged and
  resumed once the engine answers, so the clock starts when both are back).
Each app is polled through the proxy every 50 ms; time = first successful answer minus the moment
the engine answered. Target: every app within 10 s.

Kill -9: a platform on the main engine, continuous GETs through the proxy, and each process
SIGKILLed in turn in the middle of a deploy (``tests/support/process_kills.py``): failed requests
per process and Caddy's own window (from its kill to the first answer after it).

Usage: .venv/bin/python bench/recovery.py [N ...]
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import summary, write_report
from berth_testing import RunningPlatform, build_busybox_image, start_platform, stop_platform, wait_for
from process_kills import run_kills
from second_engine import SecondEngine, paused, unrouted_pool

IMAGE = "berth-bench/web:v1"
TARGET_SECONDS = 10.0


def deploy_live(p: RunningPlatform, name: str) -> str:
    assert p.api.post("/api/apps", json={"name": name}).status_code == 201
    release = p.api.post(f"/api/apps/{name}/deploy", json={"image": IMAGE}).json()["id"]
    wait_for(lambda: p.api.get(f"/api/apps/{name}/releases/{release}").json()["status"] == "live", timeout=180)
    wait_for(lambda: p.proxy_get(f"{name}.berth.test", timeout=3).text == "v1\n", timeout=60)
    return str(p.api.get(f"/api/apps/{name}").json()["id"])


def serving_times(p: RunningPlatform, names: list[str], since: float, deadline: float = 300) -> dict[str, float]:
    """Seconds from ``since`` until each app answers through the proxy (polled in parallel)."""
    found: dict[str, float] = {}

    def poll(name: str) -> None:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                if p.proxy_get(f"{name}.berth.test", timeout=2).text == "v1\n":
                    found[name] = time.monotonic() - since
                    return
            except Exception:
                pass
            time.sleep(0.05)

    threads = [threading.Thread(target=poll, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    missing = set(names) - set(found)
    if missing:
        raise RuntimeError(f"apps never served again: {sorted(missing)}")
    return found


def running_container(engine: SecondEngine, p: RunningPlatform, app_id: str) -> str:
    ids = engine.docker(
        "ps",
        "-q",
        "--no-trunc",
        "--filter",
        f"label=berth.instance={p.instance}",
        "--filter",
        f"label=berth.app={app_id}",
    ).stdout.split()
    assert len(ids) == 1, ids
    return ids[0]


def engine_restarts(n: int) -> dict[str, dict[str, float]]:
    engine = SecondEngine()
    results: dict[str, dict[str, float]] = {}
    try:
        engine.start()
        engine.load_images(IMAGE)
        with tempfile.TemporaryDirectory(prefix="berth-bench-recovery-") as home:
            p = start_platform(Path(home), DOCKER_HOST=engine.docker_host, BERTH_SUBNET_POOL=unrouted_pool())
            try:
                names = [f"rc{i}" for i in range(n)]
                ids = {name: deploy_live(p, name) for name in names}

                engine.stop()
                results["stop"] = summary(list(serving_times(p, names, engine.start()).values()))

                engine.kill()
                results["kill"] = summary(list(serving_times(p, names, engine.start()).values()))

                stuck = running_container(engine, p, ids[names[-1]])
                with paused(p.service_pid("berth_agent")):
                    engine.leave_tasks_behind([stuck])
                times = serving_times(p, names, time.monotonic())
                results["kill+task"] = summary(list(times.values()))
                results["kill+task"]["stuck_app"] = times[names[-1]]
            finally:
                stop_platform(p)
    finally:
        engine.destroy()
    return results


def process_kills() -> dict[str, object]:
    v1 = build_busybox_image(IMAGE, "v1\n")
    v2 = build_busybox_image("berth-bench/web:v2", "v2\n")
    with tempfile.TemporaryDirectory(prefix="berth-bench-kills-") as home:
        p = start_platform(Path(home))
        try:
            deploy_live(p, "kl")
            run = run_kills(p, "kl", (v1, v2))
        finally:
            stop_platform(p)
    per_process = {}
    for kill in run.kills:
        start, end = run.window_of(kill.process)
        failed = [s for s in run.failures() if start <= s.at + s.latency and s.at <= end]
        per_process[kill.process] = {
            "release": kill.release_status,
            "failed_requests": len(failed),
            "window_s": round(end - start, 3),
            "deploy_done_s": round(kill.live_at - kill.killed_at, 3),
        }
    caddy_failed = [s for s in run.failures() if s not in run.failures_outside("caddy")]
    refused_span = (
        max(s.at + s.latency for s in caddy_failed) - min(s.at for s in caddy_failed) if caddy_failed else 0.0
    )
    return {
        "requests": len(run.samples),
        "failed": len(run.failures()),
        "failed_outside_caddy": len(run.failures_outside("caddy")),
        "caddy_failed_requests": len(caddy_failed),
        "caddy_refused_seconds": round(refused_span, 3),
        "per_process": per_process,
    }


def render(engine: dict[str, dict[str, dict[str, float]]], kills: dict[str, object]) -> str:
    md = "## Engine restart: time from the engine answering to each app serving through the proxy\n\n"
    md += "| apps | how | p50 s | max s | within 10 s |\n|---|---|---|---|---|\n"
    for n, rounds in engine.items():
        for how, s in rounds.items():
            ok = "yes" if s["max"] <= TARGET_SECONDS else "**no**"
            md += f"| {n} | {how} | {s['p50']:.2f} | {s['max']:.2f} | {ok} |\n"
    md += (
        "\n`stop`: a clean engine stop and start; `kill`: dockerd SIGKILLed and started again; "
        "`kill+task`: as `kill`, with one app's container left in the engine's \"task already exists\" "
        "state, which is replaced by a fresh container (its time is included).\n\n"
        "## kill -9 of each platform process mid-deploy, under load\n\n"
        f"Requests: {kills['requests']}; failed: {kills['failed']}, of which outside Caddy's own restart: "
        f"**{kills['failed_outside_caddy']}** (target 0). Caddy's kill: connections refused for "
        f"**{kills['caddy_refused_seconds']} s** (first to last failed request; {kills['caddy_failed_requests']} "
        "requests failed in it — a refused connection fails at once, so the 4 load clients spin through "
        "thousands of attempts: the duration is the figure that matters).\n\n"
        "| process | deploy | failed requests | kill → respawned and answering s | kill → deploy live s |\n"
        "|---|---|---|---|---|\n"
    )
    per_process: dict[str, dict[str, object]] = kills["per_process"]  # type: ignore[assignment]
    for process, row in per_process.items():
        cells = (process, row["release"], row["failed_requests"], row["window_s"], row["deploy_done_s"])
        md += "| " + " | ".join(str(c) for c in cells) + " |\n"
    return md


def main(sizes: list[int]) -> None:
    build_busybox_image(IMAGE, "v1\n")
    engine = {str(n): engine_restarts(n) for n in sizes}
    kills = process_kills()
    data = {"engine_restart": engine, "process_kills": kills, "target_s": TARGET_SECONDS}
    write_report("recovery", data, render(engine, kills))


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [3, 10])
