"""The checker against real local HTTP servers on 127.0.0.1: a hanging app never delays the
others' checks, transitions come once, results arrive in batches. How punctual the schedule
is and how fast a failure is detected are timings: bench/health.py measures them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
from berth_health.checker import Checker, CheckRow, Target
from berth_health.machine import Action, HealthState, Transition, went_live
from berth_shared.contracts.health import HealthCheck


class Server:
    def __init__(self) -> None:
        self.mode = "ok"  # ok | sick | hang
        self.port = 0
        self.hits = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            self.hits += 1
            if self.mode == "hang":
                await asyncio.sleep(3600)
            status = b"200 OK" if self.mode == "ok" else b"500 Sick"
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def servers() -> AsyncIterator[list[Server]]:
    out, handles = [], []
    for _ in range(3):
        srv = Server()
        handle = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
        srv.port = handle.sockets[0].getsockname()[1]
        out.append(srv)
        handles.append(handle)
    try:
        yield out
    finally:
        for handle in handles:
            handle.close()


def target(app: str, port: int, check: HealthCheck) -> Target:
    return Target(app, "rel", "a", ("127.0.0.1",), port, check, went_live(HealthState(), 0))


async def until(cond: Callable[[], bool], within: float = 10, what: str = "") -> None:
    deadline = time.monotonic() + within
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_a_hanging_app_does_not_delay_the_other_apps_checks(servers: list[Server]) -> None:
    hanging, fine, sick = servers
    hanging.mode, sick.mode = "hang", "sick"
    rows: list[CheckRow] = []
    changes: list[tuple[str, Transition | None, Action | None]] = []

    async def on_results(batch: list[CheckRow]) -> None:
        rows.extend(batch)

    async def on_change(t: Target, tr: Transition | None, a: Action | None) -> None:
        changes.append((t.app_id, tr, a))

    checker = Checker(on_results=on_results, on_change=on_change, record_lateness=True)
    check = HealthCheck(interval_seconds=0.2, timeout_seconds=2.0, unhealthy_threshold=2, start_period_seconds=0)
    checker.upsert(target("hanging", hanging.port, check))
    checker.upsert(target("fine", fine.port, check))
    checker.upsert(target("sick", sick.port, check))
    stop = asyncio.Event()
    task = asyncio.create_task(checker.run(stop))
    await until(lambda: any(r[0] == "hanging" for r in rows), what="the hanging app's probe to time out")
    stop.set()
    await asyncio.wait_for(task, 10)

    fine_rows = [r for r in rows if r[0] == "fine"]
    (hung, *_) = [r for r in rows if r[0] == "hanging"]
    assert hung[5] == "timed out after 2s" and not hung[7]
    # While the hanging app's probe waited out its 2 s timeout, the fine app kept being checked
    # (every 0.2 s on schedule; bench/health.py measures how punctually).
    waited_from = hung[3] - timedelta(milliseconds=hung[6])
    during = [r for r in fine_rows if waited_from <= r[3] <= hung[3]]
    assert len(during) >= 3, (len(during), len(fine_rows))
    assert all(r[4] == 200 and r[7] for r in fine_rows)
    assert hanging.hits <= 2  # no pile-up of probes behind a hanging one
    assert checker.skipped_inflight >= 1  # its due checks were skipped while the probe hung
    # The sick app turned unhealthy exactly once; the fine one never changed.
    kinds = [(app, tr.kind) for app, tr, _ in changes if tr is not None]
    assert kinds.count(("sick", "unhealthy")) == 1 and ("fine", "unhealthy") not in kinds
    assert ("hanging", "unhealthy") not in kinds  # one timeout is below its threshold of 2


async def test_detection_and_recovery_reach_the_change_sink_once_each(servers: list[Server]) -> None:
    srv = servers[0]
    changes: list[str] = []

    async def on_change(t: Target, tr: Transition | None, a: Action | None) -> None:
        if tr is not None:
            changes.append(tr.kind)

    checker = Checker(on_change=on_change)
    check = HealthCheck(
        interval_seconds=0.1, timeout_seconds=1, unhealthy_threshold=3, healthy_threshold=2, start_period_seconds=0
    )
    checker.upsert(target("app", srv.port, check))
    stop = asyncio.Event()
    task = asyncio.create_task(checker.run(stop))

    await until(lambda: checker.targets["app"].state.state == "healthy")
    srv.mode = "sick"
    hits = srv.hits
    await until(lambda: changes == ["unhealthy"], what="unhealthy")
    # Not before three failing probes (the threshold); how soon is measured by bench/health.py.
    assert srv.hits - hits >= 3
    probes = checker.checks_run
    await until(lambda: checker.checks_run >= probes + 5, what="five more failing probes")
    assert changes == ["unhealthy"]  # not one per failing probe
    srv.mode = "ok"
    await until(lambda: changes == ["unhealthy", "recovered"], what="recovered")
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_every_web_instance_is_probed_and_one_sick_instance_makes_the_app_unhealthy(
    servers: list[Server],
) -> None:
    first = servers[0]
    second = Server()  # instance 1: the same port on another loopback address
    handle = await asyncio.start_server(second.handle, "127.0.0.2", first.port)
    reasons: list[str] = []

    async def on_change(t: Target, tr: Transition | None, a: Action | None) -> None:
        if tr is not None:
            reasons.append(f"{tr.kind}: {tr.reason}")

    checker = Checker(on_change=on_change)
    check = HealthCheck(interval_seconds=0.1, timeout_seconds=1, unhealthy_threshold=2, start_period_seconds=0)
    checker.upsert(
        Target("app", "rel", "a", ("127.0.0.1", "127.0.0.2"), first.port, check, went_live(HealthState(), 0))
    )
    stop = asyncio.Event()
    task = asyncio.create_task(checker.run(stop))
    try:
        await until(lambda: checker.targets["app"].state.state == "healthy", what="healthy")
        assert first.hits >= 1 and second.hits >= 1  # both instances answered the checks
        second.mode = "sick"
        await until(lambda: len(reasons) == 1, what="unhealthy")
        assert reasons == ["unhealthy: instance 127.0.0.2: GET /: HTTP 500, expected a status in [200, 400)"]
        assert first.mode == "ok"  # instance 0 still answers: the app is as healthy as its worst instance
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        handle.close()
