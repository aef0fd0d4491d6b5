"""``kill -9`` of each platform process in the middle of a deploy, under load through the proxy:
the scenario shared by ``tests/e2e/test_process_kills.py`` (which asserts on it) and
``bench/recovery.py`` (which reports its figures)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from berth_testing import LoadGenerator, RunningPlatform, Sample, wait_for

# Every process `berth up` runs, in the order they are killed (Caddy last: its window is measured).
PROCESSES = ("api", "runtime-agent", "router", "logs", "health", "nats", "postgres", "caddy")
SERVICE_MODULES = {
    "api": "berth_api",
    "runtime-agent": "berth_agent",
    "router": "berth_router",
    "logs": "berth_logs",
    "health": "berth_health",
}
SERVERS = {"nats": "nats-server", "postgres": "postgres", "caddy": "caddy"}


def process_pid(p: RunningPlatform, name: str) -> int:
    """The pid of one of the platform's processes (a direct child of `berth up`)."""
    if name in SERVICE_MODULES:
        return p.service_pid(SERVICE_MODULES[name])
    for child in psutil.Process(p.proc.pid).children():
        with contextlib.suppress(psutil.Error):
            argv = child.cmdline()
            if argv and Path(argv[0]).name.startswith(SERVERS[name]):
                return child.pid
    raise LookupError(name)


@dataclass
class Kill:
    process: str
    release_id: str
    killed_at: float  # time.monotonic(), like the load generator's samples
    live_at: float = 0.0
    respawned_at: float = 0.0  # when its new process was seen (berth up restarted it)
    # The first successful request through the proxy started after that: the end of its window.
    back_at: float = 0.0
    release_status: str = ""


@dataclass
class KillRun:
    app: str
    kills: list[Kill] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)

    def failures(self) -> list[Sample]:
        return [s for s in self.samples if s.status != 200]

    def window_of(self, process: str) -> tuple[float, float]:
        kill = next(k for k in self.kills if k.process == process)
        return kill.killed_at, kill.back_at

    def describe(self, samples: list[Sample]) -> list[str]:
        """Where failed requests fell, relative to the kills (for assertion messages)."""

        def nearest(s: Sample) -> str:
            kill = min(self.kills, key=lambda k: abs(s.at - k.killed_at))
            return f"{kill.process}{s.at - kill.killed_at:+.3f}s: {s.status or s.error}"

        return [nearest(s) for s in samples]

    def failures_outside(self, process: str) -> list[Sample]:
        """Failed requests that did not end inside ``process``'s restart window."""
        start, end = self.window_of(process)
        return [s for s in self.failures() if not (start <= s.at + s.latency and s.at <= end)]


def release_status(p: RunningPlatform, app: str, release_id: str) -> str:
    return str(p.api.get(f"/api/apps/{app}/releases/{release_id}", timeout=5).json()["status"])


def deploy_and_kill(p: RunningPlatform, app: str, image: str, process: str, load: LoadGenerator) -> Kill:
    """Deploy ``image``; once the rollout is under way (the release is ``starting``; for the API,
    right after it accepted the deploy) SIGKILL ``process``; wait until the release is live."""
    accepted = p.api.post(f"/api/apps/{app}/deploy", json={"image": image})
    assert accepted.status_code == 202, accepted.text
    release_id = accepted.json()["id"]
    if process != "api":
        wait_for(
            lambda: release_status(p, app, release_id) in ("starting", "live"),
            timeout=60,
            interval=0.02,
            what=f"the deploy to start before killing {process}",
        )
    pid = process_pid(p, process)
    os.kill(pid, signal.SIGKILL)
    kill = Kill(process, release_id, time.monotonic())
    wait_for(lambda: process_pid(p, process) != pid, timeout=60, what=f"{process} restarted by berth up")
    kill.respawned_at = time.monotonic()
    kill.release_status = wait_for(
        lambda: (s := release_status(p, app, release_id)) in ("live", "failed", "superseded") and s,
        timeout=180,
        interval=0.1,
        what=f"the deploy during the kill of {process} to finish",
    )
    kill.live_at = time.monotonic()
    kill.back_at = wait_for(
        lambda: next((s.at for s in list(load.samples) if s.at >= kill.respawned_at and s.status == 200), 0.0),
        timeout=60,
        what=f"a request through the proxy to succeed after the kill of {process}",
    )
    return kill


def run_kills(p: RunningPlatform, app: str, images: tuple[str, str], processes: tuple[str, ...] = PROCESSES) -> KillRun:
    """The whole scenario on a platform where ``app`` is live with ``images[0]``."""
    run = KillRun(app)
    with LoadGenerator(p.proxy_port, f"{app}.berth.test", workers=4, max_seconds=1200) as load:
        wait_for(lambda: load.count() > 20, timeout=30, what="load through the proxy")
        for i, process in enumerate(processes):
            run.kills.append(deploy_and_kill(p, app, images[(i + 1) % 2], process, load))
        run.samples = list(load.samples)
    return run
