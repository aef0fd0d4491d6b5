"""An app without a configured check is checked over HTTP by the deploy gate's rule (GET / on
its port, a status in [200, 400)) at the default interval, reports healthy/unhealthy from that,
is never restarted automatically, and names itself as one of Berth's probes."""

from __future__ import annotations

import asyncio

from berth_health.checker import DEFAULT_CHECK, Checker, Target
from berth_health.machine import HealthState, Transition, went_live
from berth_health.probe import ProbeResult, http_get_status
from berth_shared.contracts.health import HealthCheck
from berth_shared.probes import PROBE_USER_AGENT


def unchecked(app: str = "app1") -> Target:
    return Target(app, "rel", "a", ("127.0.0.1",), 8080, None, went_live(HealthState(), 0))


def test_an_app_without_a_check_is_scheduled_with_the_default_check() -> None:
    checker = Checker()
    target = unchecked()
    checker.upsert(target)
    assert "app1" in checker.schedule
    assert target.effective_check == DEFAULT_CHECK == HealthCheck()
    assert (DEFAULT_CHECK.path, DEFAULT_CHECK.expected_status, DEFAULT_CHECK.interval_seconds) == ("/", 0, 10.0)


async def test_its_http_answers_decide_healthy_and_unhealthy_without_restarts() -> None:
    answers = [200, 404, 404, 404, 302]
    asked: list[tuple[str, int, str]] = []

    async def probe(host: str, port: int, path: str, timeout: float) -> ProbeResult:
        asked.append((host, port, path))
        return ProbeResult(answers.pop(0), None, 1)

    checker = Checker(probe=probe)
    target = unchecked()
    target.state = went_live(HealthState(), -3600)  # long past its start period
    checker.upsert(target)
    for _ in range(5):
        await checker._check(target, target.effective_check, 0)
    assert asked == [("127.0.0.1", 8080, "/")] * 5
    changes: list[Transition | None] = []
    while not checker.effects.empty():
        _, transition, action = checker.effects.get_nowait()
        assert action is None
        changes.append(transition)
    assert [t.kind for t in changes if t] == ["unhealthy", "recovered"]
    assert "HTTP 404" in next(t.reason for t in changes if t and t.kind == "unhealthy")
    assert target.state.state == "healthy"


async def test_a_stopped_container_is_unhealthy_at_once_and_its_next_check_says_when_it_is_back() -> None:
    async def probe(host: str, port: int, path: str, timeout: float) -> ProbeResult:
        return ProbeResult(200, None, 1)

    checker = Checker(probe=probe)
    target = unchecked()
    checker.upsert(target)
    checker.liveness("app1", False, "container exited with code 3")
    assert target.state.state == "unhealthy"
    checker.liveness("app1", True, "")
    assert target.state.state == "unhealthy"  # running is not answering yet
    await checker._check(target, target.effective_check, 0)
    assert target.state.state == "healthy"


async def test_the_health_probe_names_itself() -> None:
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        result = await http_get_status("127.0.0.1", port, "/", 2)
    finally:
        server.close()
    assert result.status_code == 204
    assert f"User-Agent: {PROBE_USER_AGENT}\r\n".encode() in seen[0]
