"""The deploy gate: a new slot is ready when it answers ``GET <health path>`` on its port with the
status its health check expects (default: any status in [200, 400)), each try bounded by the
check's timeout. Apps with a health check use the same definition as the health service.

The gate asks every ``POLL_SECONDS`` (tens of milliseconds: a refused connection costs a
fraction of a millisecond on the app's bridge), so a release is let through as soon as it first
answers; whether the container still runs is asked of the engine less often."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiodocker
import aiohttp
from berth_shared.contracts.desired import DesiredApp
from berth_shared.contracts.health import describe_expected, status_matches
from berth_shared.probes import PROBE_USER_AGENT

POLL_SECONDS = 0.02
STATE_CHECK_SECONDS = 0.25
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
    # 0: any status in [200, 400); 1-5: that class; 100-599: exactly that code.
    expected_status: int = 0
    request_timeout_seconds: float = REQUEST_TIMEOUT_SECONDS


def probe_for(app: DesiredApp, address: str, deadline_seconds: float) -> Probe:
    """The gate for ``app`` at ``address``: its health check's path, expected status and timeout."""
    check = app.health_check
    if check is None:
        return Probe(health_url(address, app.port, app.health_path), deadline_seconds)
    return Probe(
        health_url(address, app.port, check.path),
        deadline_seconds,
        expected_status=check.expected_status,
        request_timeout_seconds=check.timeout_seconds,
    )


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
    state_checked = -STATE_CHECK_SECONDS
    async with aiohttp.ClientSession(headers={"User-Agent": PROBE_USER_AGENT}) as http:
        while True:
            if loop.time() - state_checked >= STATE_CHECK_SECONDS:
                state_checked = loop.time()
                state = (await docker.containers.container(container_id).show())["State"]
                if not state.get("Running"):
                    raise NotReady(exit_reason(state))
            remaining = deadline - loop.time()
            timeout = max(0.05, min(probe.request_timeout_seconds, remaining))
            status, last = await http_status(http, probe.url, timeout)
            if status is not None and status_matches(status, probe.expected_status):
                return loop.time() - started
            if loop.time() + POLL_SECONDS >= deadline:
                raise NotReady(
                    f"not ready within {probe.deadline_seconds:g}s: GET {probe.url} never answered "
                    f"with {describe_expected(probe.expected_status)} (last: {last})"
                )
            await asyncio.sleep(POLL_SECONDS)
