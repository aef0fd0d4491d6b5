"""A Docker engine of a test's own: a second ``dockerd`` that the test may stop, SIGKILL and
start again without touching the engine every other test uses.

It shares the host's network namespace (Caddy and the agent reach app slots by their bridge
addresses, as on a real host) but runs with ``--iptables=false`` and ``--bridge=none``: two
engines that both manage the ``DOCKER`` chains flush each other's rules whenever one of them
starts, and two engines on ``docker0`` would fight over it. Berth never needs either (no
published ports, its own per-app networks); what an app loses is NAT to the internet, which
these tests never use. Everything else is the engine's own: data root, exec root (its own
containerd, whose state is what "task already exists" is about), socket and pidfile.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from berth_testing import wait_for

# Moments after `docker start` at which SIGKILL reached dockerd mid-start here (each is tried
# until one leaves the task behind; the state is then confirmed, never assumed).
KILL_AFTER_SECONDS = (0.08, 0.05, 0.12, 0.16, 0.2, 0.03, 0.3)


def unrouted_pool(base: str = "10.242.0.0/16") -> str:
    """A /22 of ``base`` that no route of this host uses: an app pool for a platform on this
    engine (whose networks the main engine's users cannot see, so they must look at routes)."""
    used = []
    for line in subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout.splitlines():
        words = line.split()
        if not words or words[0] == "default":
            continue
        destination = words[1] if words[0] in ("unreachable", "blackhole", "prohibit") else words[0]
        used.append(ipaddress.IPv4Network(destination, strict=False))
    for candidate in ipaddress.IPv4Network(base).subnets(new_prefix=22):
        if not any(candidate.overlaps(u) for u in used):
            return str(candidate)
    raise AssertionError(f"no unrouted /22 left in {base}")


@contextlib.contextmanager
def paused(pid: int) -> Iterator[None]:
    """SIGSTOP a process for the block (SIGCONT after it, whatever happens)."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


class SecondEngine:
    def __init__(self, root: Path | None = None) -> None:
        # Short paths: containerd's socket lives under the exec root (sun_path is 108 bytes).
        self.root = root or Path(tempfile.mkdtemp(prefix="berth-eng-", dir="/tmp"))
        self.data_root = self.root / "data"
        self.exec_root = self.root / "x"
        self.socket = self.root / "docker.sock"
        self.pidfile = self.root / "docker.pid"
        self.log_path = self.root / "dockerd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    def argv(self) -> list[str]:
        return [
            shutil.which("dockerd") or "/usr/sbin/dockerd",
            "--data-root",
            str(self.data_root),
            "--exec-root",
            str(self.exec_root),
            "--host",
            self.docker_host,
            "--pidfile",
            str(self.pidfile),
            "--iptables=false",
            "--ip-masq=false",
            "--bridge=none",
            "--userland-proxy=false",
            "--storage-driver=overlay2",
        ]

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 90) -> float:
        """Start the engine; returns the monotonic time at which it first answered."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return wait_for(self._answers, timeout=timeout, interval=0.05, what="the second dockerd to answer")

    def _answers(self) -> float:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"dockerd exited with {self.proc.returncode}: {self.log_tail()}")
        if not self.socket.exists():
            return 0.0
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(2)
            try:
                conn.connect(str(self.socket))
                conn.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                ok = b" 200 " in conn.recv(64).split(b"\r\n", 1)[0]
            except OSError:
                return 0.0
        return time.monotonic() if ok else 0.0

    def stop(self, timeout: float = 60) -> None:
        """A clean stop (SIGTERM: the engine stops its containers, as ``systemctl stop docker``)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        """SIGKILL dockerd. Its containerd follows it (parent-death signal); the containers'
        shims keep running, so a container that was starting keeps a task the engine forgot."""
        containerd = self.containerd_pid()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if containerd is not None:  # a containerd still exiting would be reused, then time out
            wait_for(lambda: not Path(f"/proc/{containerd}").exists(), timeout=30, what="containerd to exit")
        # Its pid may be reused before the next start, and dockerd refuses a pidfile naming a live process.
        self.pidfile.unlink(missing_ok=True)

    def containerd_pid(self) -> int | None:
        pidfile = self.exec_root / "containerd" / "containerd.pid"
        with contextlib.suppress(OSError, ValueError):
            return int(pidfile.read_text().strip())
        return None

    def destroy(self) -> None:
        """Remove every container, the engine, its containerd and shims, and the data root."""
        with contextlib.suppress(Exception):
            if self.proc is not None and self.proc.poll() is None:
                ids = self.docker("ps", "-aq").stdout.split()
                if ids:
                    self.docker("rm", "-f", *ids)
        self.stop()
        self._kill_leftovers()
        self._unmount_all()
        shutil.rmtree(self.root, ignore_errors=True)

    def _kill_leftovers(self) -> None:
        """containerd and shims started for this engine (found by its exec root in their argv)."""
        marker = str(self.exec_root)
        for pid_dir in Path("/proc").iterdir():
            if not pid_dir.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                argv = (pid_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if marker in argv:
                    os.kill(int(pid_dir.name), signal.SIGKILL)

    def _unmount_all(self) -> None:
        with contextlib.suppress(OSError):
            mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
            for mount in sorted((m for m in mounts if m.startswith(str(self.root))), key=len, reverse=True):
                subprocess.run(["umount", "-l", mount], capture_output=True)

    def leave_tasks_behind(self, container_ids: list[str], kill_after: tuple[float, ...] = KILL_AFTER_SECONDS) -> None:
        """SIGKILL the engine while ``container_ids`` start, until each is left exited with a task
        the engine will not start again (confirmed: a start of our own is refused with "already
        exists"). The engine is running again when this returns."""
        stuck: set[str] = set()
        for delay in kill_after:
            pending = [c for c in container_ids if c not in stuck]
            for cid in pending:
                self.docker("stop", "-t", "1", cid)
            starters = [
                subprocess.Popen(
                    ["docker", "-H", self.docker_host, "start", cid],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for cid in pending
            ]
            time.sleep(delay)  # the injection point: dockerd dies this long into the start
            self.kill()
            for starter in starters:
                starter.wait()
            self.start()
            for cid in pending:
                refused = self.docker("start", cid)
                if refused.returncode != 0 and "already exists" in refused.stderr:
                    stuck.add(cid)
            if stuck >= set(container_ids):
                return
        raise AssertionError(f"could not leave the tasks of {sorted(set(container_ids) - stuck)} behind")

    # -- the docker CLI against this engine -----------------------------------------------------
    def docker(self, *args: str, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "-H", self.docker_host, *args], capture_output=True, text=True, check=check, timeout=timeout
        )

    def load_images(self, *tags: str) -> None:
        """Copy images from the main engine (``docker save | docker -H … load``)."""
        with subprocess.Popen(["docker", "save", *tags], stdout=subprocess.PIPE) as save:
            loaded = subprocess.run(
                ["docker", "-H", self.docker_host, "load", "-q"], stdin=save.stdout, capture_output=True
            )
        assert save.returncode == 0 and loaded.returncode == 0, loaded.stderr

    def inspect(self, *ids: str) -> list[dict[str, object]]:
        if not ids:
            return []
        return list(json.loads(self.docker("inspect", *ids, check=True).stdout))

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""
