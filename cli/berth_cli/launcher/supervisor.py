"""Runs child processes, restarts the ones that crash with backoff, stops them all cleanly.

Children die with the supervisor even if it is killed (PR_SET_PDEATHSIG), so a killed
`berth up` never leaves a Postgres behind on its data directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import pwd
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("berth.supervisor")

ReadyProbe = Callable[[], Awaitable[bool]]

_PR_SET_PDEATHSIG = 1


def _die_with_parent(sig: int) -> Callable[[], None]:
    def preexec() -> None:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig)
        os.setpgrp()

    return preexec


def _drop_to(user: str | None) -> dict[str, Any]:
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


@dataclass
class ChildSpec:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    log_file: Path | None = None
    user: str | None = None
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 10.0
    ready: ReadyProbe | None = None
    ready_timeout: float = 60.0
    # False: the child gets ``env`` and nothing else (embedded servers: see minimal_env).
    inherit_env: bool = True


SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def minimal_env(home: Path, launcher_env: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """The whole environment of an embedded server (Postgres, NATS, Caddy): a system PATH, its
    own HOME, the launcher's language and time zone, and what ``extra`` adds; never the
    launcher's other variables (the master key, tokens, anything a user exported)."""
    launcher_env = dict(os.environ) if launcher_env is None else launcher_env
    env = {"PATH": SYSTEM_PATH, "HOME": str(home), "LANG": launcher_env.get("LANG") or "C.UTF-8"}
    for name in ("LC_ALL", "TZ"):
        if launcher_env.get(name):
            env[name] = launcher_env[name]
    return {**env, **extra}


def backoff_delay(failures: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Delay before the ``failures``-th consecutive restart: 0.5 s doubling up to 30 s."""
    return float(min(cap, base * (2 ** max(0, failures - 1))))


class Child:
    def __init__(self, spec: ChildSpec, on_event: Callable[[str], None]) -> None:
        self.spec = spec
        self.proc: asyncio.subprocess.Process | None = None
        self.failures = 0
        self.restarts = 0
        self.stopping = False
        self._on_event = on_event
        self._watch: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def start(self) -> None:
        spec = self.spec
        out: int | None = None
        if spec.log_file is not None:
            spec.log_file.parent.mkdir(parents=True, exist_ok=True)
            out = os.open(spec.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        env = {**os.environ, **spec.env} if spec.inherit_env else dict(spec.env)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *spec.argv,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                **_drop_to(spec.user),
                preexec_fn=_die_with_parent(spec.stop_signal),
            )
        finally:
            if out is not None:
                os.close(out)
        self._started_at = time.monotonic()
        if spec.ready is not None:
            await self._wait_ready()
        self._watch = asyncio.create_task(self._watch_exit(), name=f"watch-{spec.name}")

    async def _wait_ready(self) -> None:
        assert self.proc is not None and self.spec.ready is not None
        deadline = time.monotonic() + self.spec.ready_timeout
        while time.monotonic() < deadline:
            if self.proc.returncode is not None:
                raise RuntimeError(f"{self.spec.name} exited with code {self.proc.returncode} while starting")
            with contextlib.suppress(Exception):
                if await self.spec.ready():
                    return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.spec.name} was not ready after {self.spec.ready_timeout:.0f}s")

    async def _watch_exit(self) -> None:
        assert self.proc is not None
        code = await self.proc.wait()
        if self.stopping:
            return
        lived = time.monotonic() - self._started_at
        self.failures = 1 if lived > 60 else self.failures + 1
        delay = backoff_delay(self.failures)
        self._on_event(f"{self.spec.name} exited with code {code}; restarting in {delay:.1f}s")
        await asyncio.sleep(delay)
        if self.stopping:
            return
        self.restarts += 1
        try:
            await self.start()
            self._on_event(f"{self.spec.name} restarted (pid {self.pid})")
        except Exception as exc:
            self._on_event(f"{self.spec.name} failed to restart: {exc}")
            self._watch = asyncio.create_task(self._watch_exit(), name=f"watch-{self.spec.name}")

    async def stop(self) -> None:
        self.stopping = True
        if self._watch is not None:
            self._watch.cancel()
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(self.spec.stop_signal)
        try:
            await asyncio.wait_for(proc.wait(), self.spec.stop_timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


class Supervisor:
    def __init__(self, on_event: Callable[[str], None] | None = None) -> None:
        self.children: list[Child] = []
        self._on_event = on_event or (lambda text: log.warning("%s", text))

    def child(self, name: str) -> Child:
        for c in self.children:
            if c.spec.name == name:
                return c
        raise KeyError(name)

    async def start(self, spec: ChildSpec) -> Child:
        child = Child(spec, self._on_event)
        await child.start()
        self.children.append(child)
        return child

    async def stop_all(self) -> None:
        """Stop in reverse start order: services first, then the servers they use."""
        for child in reversed(self.children):
            await child.stop()
