from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from berth_agent.consumers.commands import RETRY_DELAY_SECONDS, handle, received_step, run_command
from berth_agent.loop import Agent
from berth_shared.contracts.base import encode
from berth_shared.contracts.releases import AgentCommand, ReconcileApp, ReleaseStep, RestartInPlace, restart_subject
from berth_shared.contracts.runs import StartRun, StopRun, run_command_subject, stop_run_subject
from berth_shared.errors import BusUnavailable, EngineUnavailable
from berth_testing import FakeMsg


def command(app_id: str = "app1") -> FakeMsg:
    return FakeMsg(encode(ReconcileApp(app_id=app_id)))


async def test_acked_after_the_reconcile_finished() -> None:
    seen: list[AgentCommand] = []

    async def dispatch(command: AgentCommand) -> None:
        seen.append(command)

    msg = command()
    await handle(msg, dispatch)  # type: ignore[arg-type]
    assert [(type(c), c.app_id) for c in seen] == [(ReconcileApp, "app1")] and msg.settled == [("ack", None)]


async def test_restart_in_place_is_decoded_and_dispatched_as_such() -> None:
    seen: list[AgentCommand] = []

    async def dispatch(command: AgentCommand) -> None:
        seen.append(command)

    sent = RestartInPlace(app_id="app1", release_id="rel1")
    msg = FakeMsg(encode(sent), subject=restart_subject("h1"))
    await handle(msg, dispatch)  # type: ignore[arg-type]
    assert seen == [sent] and isinstance(seen[0], RestartInPlace)
    assert msg.settled == [("ack", None)]


async def test_a_restart_that_cannot_reach_the_engine_is_redelivered() -> None:
    async def dispatch(command: AgentCommand) -> None:
        raise EngineUnavailable("docker down")

    msg = FakeMsg(encode(RestartInPlace(app_id="app1", release_id="rel1")), subject=restart_subject("h1"))
    await handle(msg, dispatch)  # type: ignore[arg-type]
    assert msg.settled == [("nak", RETRY_DELAY_SECONDS)]


async def test_unreachable_engine_or_api_naks_with_a_delay() -> None:
    for error in (EngineUnavailable("docker down"), BusUnavailable("api down")):

        async def failing(command: AgentCommand, error: Exception = error) -> None:
            raise error

        msg = command()
        await handle(msg, failing)  # type: ignore[arg-type]
        assert msg.settled == [("nak", RETRY_DELAY_SECONDS)]


async def test_undecodable_command_is_terminated() -> None:
    async def dispatch(command: AgentCommand) -> None:
        raise AssertionError("must not run")

    for data in (b"not json", b'{"type": "SomethingElse", "app_id": "app1"}'):
        msg = FakeMsg(data)
        await handle(msg, dispatch)  # type: ignore[arg-type]
        assert msg.settled == [("term", None)]


async def test_unknown_fields_of_a_known_command_are_ignored() -> None:
    seen: list[AgentCommand] = []

    async def dispatch(command: AgentCommand) -> None:
        seen.append(command)

    msg = FakeMsg(b'{"type": "RestartInPlace", "app_id": "a", "release_id": "r", "future": 1}')
    await handle(msg, dispatch)  # type: ignore[arg-type]
    assert [(c.app_id, getattr(c, "release_id", None)) for c in seen] == [("a", "r")]
    assert msg.settled == [("ack", None)]


async def test_the_agent_routes_each_command_to_its_handler() -> None:
    agent = Agent(None, None, None, instance="i1", host="h1")  # type: ignore[arg-type]  # no I/O on this path
    calls: list[tuple[str, object]] = []

    async def reconcile_app(app_id: str) -> None:
        calls.append(("reconcile", app_id))

    async def restart_in_place(command: RestartInPlace) -> None:
        calls.append(("restart", (command.app_id, command.release_id)))

    agent.reconcile_app = reconcile_app  # type: ignore[method-assign]
    agent.restart_in_place = restart_in_place  # type: ignore[method-assign]
    await agent.dispatch(ReconcileApp(app_id="a1"))
    await agent.dispatch(RestartInPlace(app_id="a2", release_id="r2"))
    assert calls == [("reconcile", "a1"), ("restart", ("a2", "r2"))]


STORED = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


def test_a_command_sent_for_a_release_reports_its_arrival_on_that_release() -> None:
    arrived = STORED + timedelta(milliseconds=7)
    step = received_step(ReconcileApp(app_id="a1", release_id="r1"), STORED, arrived)
    assert step is not None
    assert (step.app_id, step.release_id, step.step) == ("a1", "r1", "command.received")
    assert step.at == arrived and step.duration_ms == 7  # since JetStream stored it


def test_a_command_sent_for_no_release_reports_nothing() -> None:
    assert received_step(ReconcileApp(app_id="a1", reason="app deleted"), STORED, STORED) is None
    assert received_step(RestartInPlace(app_id="a1", release_id="r1"), STORED, STORED) is None


async def test_the_arrival_is_reported_while_the_rollout_still_runs() -> None:
    reported: list[ReleaseStep] = []
    seen = asyncio.Event()

    async def report(step: ReleaseStep) -> None:
        reported.append(step)
        seen.set()

    async def rollout(command: AgentCommand) -> None:
        await asyncio.wait_for(seen.wait(), 10)  # returns only once the arrival is on the timeline

    msg = FakeMsg(encode(ReconcileApp(app_id="a1", release_id="r1")))
    msg.metadata = SimpleNamespace(timestamp=STORED)  # type: ignore[attr-defined]
    await run_command(msg, rollout, report)  # type: ignore[arg-type]
    assert [(s.release_id, s.step) for s in reported] == [("r1", "command.received")]


async def test_run_commands_are_decoded_and_dispatched_as_such() -> None:
    seen: list[object] = []

    async def dispatch(command: object) -> None:
        seen.append(command)

    start = StartRun(app_id="app1", run_id="run1")
    stop = StopRun(app_id="app1", run_id="run1", reason="replace")
    for sent, subject in ((start, run_command_subject("h1")), (stop, stop_run_subject("h1"))):
        msg = FakeMsg(encode(sent), subject=subject)
        await handle(msg, dispatch)  # type: ignore[arg-type]
        assert msg.settled == [("ack", None)]
    assert seen == [start, stop] and isinstance(seen[0], StartRun) and isinstance(seen[1], StopRun)
