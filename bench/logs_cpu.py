"""CPU-seconds per process of a live platform over a phase of a bench (from ``/proc/<pid>/stat``).

``bench/logs`` samples its ingest phase with :class:`CpuSampler` and reports µs of CPU per stored
line for each part of the pipeline. The platform's own processes are those below its launcher
(Postgres split into the logs role's backends and the rest: WAL writer, checkpointer, other
roles); the engine's (dockerd, containerd and the shims) and the kernel's writeback threads are
shared with whatever else runs on the machine, so they are labelled as such. CPU per line,
unlike lines per second, barely moves when other work competes for the cores.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

HZ = os.sysconf("SC_CLK_TCK")
SHARED = {"dockerd": "dockerd", "containerd": "containerd", "containerd-shim": "containerd-shim"}


def _stat(pid: str) -> tuple[int, float] | None:
    """(parent pid, user + system CPU-seconds) of a process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / HZ


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def label(cmdline: str, comm: str, own: bool) -> str | None:
    """Which part of the pipeline a process is (None: not counted)."""
    if own:
        if "berth_agent" in cmdline:
            return "agent"
        if "berth_logs" in cmdline:
            return "logs service"
        if cmdline.startswith("postgres: logs "):
            return "postgres (logs role)"
        if cmdline.startswith("postgres"):
            return "postgres (other: wal writer, checkpointer, other roles)"
        if "nats-server" in cmdline:
            return "nats"
        return "platform (other)"
    if comm.startswith("containerd-shim"):
        return "containerd-shim (shared)"
    if comm in SHARED:
        return f"{SHARED[comm]} (shared)"
    if comm.startswith("kworker") and "flush" in comm:
        return "kernel writeback (shared)"
    return None


def snapshot(root: int) -> dict[int, tuple[str, float]]:
    """Every counted process: its label and CPU-seconds so far (``root``: the platform's launcher)."""
    stats: dict[int, tuple[int, float]] = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            found = _stat(pid)
            if found is not None:
                stats[int(pid)] = found
    own: set[int] = {root}
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _) in stats.items():
            if ppid in own and pid not in own:
                own.add(pid)
                grew = True
    counted: dict[int, tuple[str, float]] = {}
    for pid, (_, cpu) in stats.items():
        name = label(_read(f"/proc/{pid}/cmdline"), _read(f"/proc/{pid}/comm"), pid in own)
        if name is not None:
            counted[pid] = (name, cpu)
    return counted


class CpuSampler(threading.Thread):
    """CPU-seconds per label between :meth:`begin` and :meth:`end`, summed per process from one
    sample to the next (every second), so a process that exits meanwhile keeps what it used up
    to its last sample and one started meanwhile counts from zero."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.seen: dict[int, tuple[str, float]] = {}
        self.used: Counter[str] = Counter()
        self.seconds = 0.0
        self._began = 0.0
        self._halt = threading.Event()

    def begin(self) -> None:
        self.seen = snapshot(self.root)
        self._began = time.monotonic()
        self.start()

    def _sample(self) -> None:
        now = snapshot(self.root)
        for pid, (name, cpu) in now.items():
            before = self.seen.get(pid)
            self.used[name] += cpu - (before[1] if before is not None and before[0] == name else 0.0)
        self.seen = now

    def run(self) -> None:
        while not self._halt.wait(1.0):
            self._sample()

    def end(self) -> dict[str, float]:
        self._halt.set()
        self.join()
        self._sample()
        self.seconds = time.monotonic() - self._began
        return {name: round(max(0.0, cpu), 3) for name, cpu in sorted(self.used.items())}


def per_line(cpu: dict[str, float], lines: int) -> dict[str, float]:
    """µs of CPU per line, by label, with the platform's own total and the total with the shared."""
    us = {name: round(seconds * 1e6 / lines, 2) for name, seconds in cpu.items()} if lines else {}
    us["total (platform's own)"] = round(sum(v for k, v in us.items() if "shared" not in k), 2)
    us["total (with the engine and writeback)"] = round(sum(v for k, v in us.items() if not k.startswith("total")), 2)
    return us
