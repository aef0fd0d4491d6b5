"""The deploy gate: a new slot is ready when it answers HTTP on its port with a status in [200, 400)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiodocker
import aiohttp

POLL_SECONDS = 0.15
REQUEST_TIMEOUT_SECONDS = 1.0


class NotReady(Exception):
    """The container never became ready; ``reason`` is shown to the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Probe:
    url: str
    deadline_seconds: float


def health_url(address: str, port: int, health_path: str) -> str:
    path = health_path if health_path.startswith("/") else f"/{health_path}"
    return f"http://{address}:{port}{path}"


def exit_reason(state: dict[str, object]) -> str:
    code = state.get("ExitCode", 0)
    if state.get("OOMKilled"):
        return f"container was killed for running out of memory (exit code {code})"
    return f"container exited with code {code}"


async def http_status(http: aiohttp.ClientSession, url: str, timeout: float) -> tuple[int | None, str]:
    """The status code of ``GET url``, or None and what went wrong."""
    try:
        async with http.get(url, allow_redirects=False, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            return response.status, f"HTTP {response.status}"
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return None, type(exc).__name__ if not str(exc) else str(exc)


async def wait_ready(docker: aiodocker.Docker, container_id: str, probe: Probe) -> float:
    """Poll until ready; returns the seconds it took. Raises :class:`NotReady` on exit or deadline."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + probe.deadline_seconds
    last = "no answer yet"
    async with aiohttp.ClientSession() as http:
        while True:
            state = (await docker.containers.container(container_id).show())["State"]
            if not state.get("Running"):
                raise NotReady(exit_reason(state))
            remaining = deadline - loop.time()
            status, last = await http_status(http, probe.url, max(0.05, min(REQUEST_TIMEOUT_SECONDS, remaining)))
            if status is not None and 200 <= status < 400:
                return loop.time() - started
            if loop.time() + POLL_SECONDS >= deadline:
                raise NotReady(
                    f"not ready within {probe.deadline_seconds:g}s: GET {probe.url} never answered "
                    f"with a status in [200, 400) (last: {last})"
                )
            await asyncio.sleep(POLL_SECONDS)
