"""`GET /healthz` tells a monitor the truth: with the database or the bus stalled (their
processes frozen, as a hung disk or a wedged server would leave them) it answers 503 naming
what is wrong, promptly rather than hanging with them; requests that need the bus get 503
`bus_unavailable`; once they are back it answers 200 again. On a platform of this module's own."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from berth_testing import RunningPlatform, api_error, start_platform, stop_platform, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    p = start_platform(Path(tmp_path_factory.mktemp("berth-outages")))
    try:
        yield p
    finally:
        stop_platform(p)


def processes(p: RunningPlatform, word: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.Process(p.proc.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if proc.cmdline() and word in Path(proc.cmdline()[0]).name:
                found.append(proc)
    assert found, f"no {word} process"
    return found


@contextlib.contextmanager
def frozen(p: RunningPlatform, word: str) -> Iterator[None]:
    """SIGSTOP every process of ``word`` (Postgres: the postmaster and each backend), SIGCONT after."""
    stopped = processes(p, word)
    for proc in stopped:
        proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for proc in stopped:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGCONT)


def healthz(p: RunningPlatform) -> httpx.Response:
    # /healthz must answer on its own while a dependency hangs, well before a monitor gives up
    # (30 s here is generous: the API bounds its own checks).
    return httpx.get(f"{p.base}/healthz", timeout=30)


def refused_naming(p: RunningPlatform, what: str) -> dict[str, Any] | None:
    response = healthz(p)
    if response.status_code == 200:
        return None
    assert response.status_code == 503, response.text
    body: dict[str, Any] = response.json()
    assert body["ok"] is False
    named = [problem for problem in body["problems"] if problem.startswith(what)]
    assert all(problem.removeprefix(what).strip(": ") for problem in named), body  # says what went wrong
    return body if named else None


def test_healthz_answers_503_while_the_database_is_stalled(own: RunningPlatform) -> None:
    wait_for(lambda: healthz(own).status_code == 200, timeout=60, what="a healthy platform")
    with frozen(own, "postgres"):
        body = wait_for(lambda: refused_naming(own, "database"), timeout=120, what="/healthz to name the database")
        assert not any(problem.startswith("bus") for problem in body["problems"]), body
    wait_for(lambda: healthz(own).status_code == 200, timeout=120, what="/healthz healthy again")


def test_healthz_answers_503_while_the_bus_is_stalled_and_bus_requests_say_so(own: RunningPlatform) -> None:
    wait_for(lambda: healthz(own).status_code == 200, timeout=60, what="a healthy platform")
    assert own.api.post("/api/apps", json={"name": "outage"}).status_code == 201
    wait_for(lambda: own.api.get("/api/apps/outage/health").status_code == 200, timeout=60, what="the health service")
    with frozen(own, "nats-server"):
        body = wait_for(lambda: refused_naming(own, "bus"), timeout=120, what="/healthz to name the bus")
        assert not any(problem.startswith("database") for problem in body["problems"]), body
        error = api_error(own.api.get("/api/apps/outage/health", timeout=120), 503, "bus_unavailable")
        assert "health service" in error["message"] or "bus" in error["message"], error
    wait_for(lambda: healthz(own).status_code == 200, timeout=120, what="/healthz healthy again")
    wait_for(lambda: own.api.get("/api/apps/outage/health").status_code == 200, timeout=120, what="health again")
