"""One-off runs against real Docker and NATS (ADR 0026 §5): the test plays the API's side (the
desired-run query, StartRun/StopRun, the run's output and stdin subjects, the run events)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from agent_harness import Harness, eventually, release
from berth_shared import bus, labels
from berth_shared.contracts.base import Message, encode
from berth_shared.contracts.desired import Resources
from berth_shared.contracts.releases import ReleaseLive
from berth_shared.contracts.runs import (
    ADOPTED_SEQ,
    DESIRED_RUN,
    RUN_EVENTS,
    DesiredRun,
    DesiredRunReply,
    GetDesiredRun,
    RunFinished,
    RunInput,
    RunOutput,
    RunStarted,
    StartRun,
    StopRun,
    run_command_subject,
    run_input_subject,
    stop_run_subject,
)
from berth_shared.sealing import seal_env
from nats.aio.msg import Msg

pytestmark = pytest.mark.integration


@dataclass
class RunApi:
    h: Harness
    runs: dict[str, DesiredRun] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    events: list[Message] = field(default_factory=list)
    output: list[RunOutput] = field(default_factory=list)

    async def start(self) -> None:
        await self.h.api.nc.subscribe(DESIRED_RUN, queue="api", cb=self._on_query)
        await self.h.api.nc.subscribe("berth.run.*.*.out", cb=self._on_output)
        await self.h.observer.subscribe(RUN_EVENTS, cb=self._on_event)

    async def _on_query(self, msg: Msg) -> None:
        query = msgspec.json.decode(msg.data, type=GetDesiredRun)
        run = self.runs.get(query.run_id)
        if run is not None:
            assert query.seal_to
            run = msgspec.structs.replace(run, sealed_env=seal_env(self.env, query.seal_to, run.app_id, run.release_id))
        await msg.respond(encode(DesiredRunReply(run=run)))

    async def _on_output(self, msg: Msg) -> None:
        self.output.append(msgspec.json.decode(msg.data, type=RunOutput))

    async def _on_event(self, msg: Msg) -> None:
        self.events.append(msgspec.json.decode(msg.data, type=RunStarted | RunFinished))

    async def run(self, app_id: str, release_id: str, image: str, command: list[str], **fields: Any) -> str:
        run_id = uuid.uuid4().hex
        self.runs[run_id] = DesiredRun(
            run_id=run_id, app_id=app_id, kind="run", release_id=release_id, image=image, command=command,
            resources=Resources(), attach=True, stop_timeout_seconds=1, **fields,
        )  # fmt: skip
        await self.send(StartRun(app_id=app_id, run_id=run_id))
        return run_id

    async def send(self, command: StartRun | StopRun) -> None:
        subject = run_command_subject(self.h.host) if isinstance(command, StartRun) else stop_run_subject(self.h.host)
        await bus.publish(self.h.api.nc.jetstream(), subject, command, msg_id=command.id)

    def started(self, run_id: str) -> list[RunStarted]:
        return [e for e in self.events if isinstance(e, RunStarted) and e.run_id == run_id]

    async def finished(self, run_id: str, timeout: float = 60) -> RunFinished:
        def ended() -> list[RunFinished]:
            return [e for e in self.events if isinstance(e, RunFinished) and e.run_id == run_id]

        return (await eventually(ended, timeout))[0]  # type: ignore[no-any-return]

    def text(self, run_id: str, stream: str | None = None) -> str:
        chunks = sorted((c for c in self.output if c.run_id == run_id), key=lambda c: c.seq)
        return b"".join(c.data for c in chunks if stream is None or c.stream == stream).decode()


async def deployed(h: Harness, image: str) -> tuple[RunApi, str, str]:
    """A running agent, a live app and the API's run side."""
    api = RunApi(h, env={"GREETING": "hi from the env"})
    await api.start()
    await h.start_agent()
    app = h.new_app()
    rel = release(image)
    await h.api.set_release(app.app_id, rel)
    assert isinstance(await h.events.wait_outcome(rel.release_id), ReleaseLive)
    return api, app.app_id, rel.release_id


async def run_containers(h: Harness, run_id: str) -> list[Any]:
    return await h.docker.containers.list(
        all=True,
        filters=msgspec.json.encode(
            {"label": [*labels.instance_filter(h.instance), f"{labels.RUN}={run_id}"]}
        ).decode(),
    )


async def test_a_run_reports_its_exit_code_and_output_in_order_then_its_container_goes(
    harness: Harness, test_images: dict[str, str]
) -> None:
    api, app_id, release_id = await deployed(harness, test_images["v1"])
    script = 'echo one; echo two >&2; echo "$GREETING"; exit 3'
    run_id = await api.run(app_id, release_id, test_images["v1"], ["/bin/sh", "-c", script])
    ended = await api.finished(run_id)
    assert (ended.outcome, ended.exit_code) == ("exited", 3)
    # stdout and stderr are separate pipes: each in order, no order between them
    assert sorted(ended.last_lines) == ["hi from the env", "one", "two"]
    [started] = api.started(run_id)
    assert started.address and started.container_id
    await eventually(lambda: any(c.eof for c in api.output if c.run_id == run_id), timeout=10)
    chunks = sorted((c for c in api.output if c.run_id == run_id), key=lambda c: c.seq)
    assert [c.seq for c in chunks] == list(range(len(chunks)))  # nothing lost, in order
    assert chunks[-1].eof and chunks[-1].exit_code == 3
    assert api.text(run_id, "stdout") == "one\nhi from the env\n" and api.text(run_id, "stderr") == "two\n"
    assert await eventually(lambda: _gone(harness, run_id), timeout=10)
    await api.send(StartRun(app_id=app_id, run_id=run_id))  # redelivered: changes nothing
    await eventually(harness.commands_done, timeout=20)
    assert len(api.started(run_id)) == 1 and await run_containers(harness, run_id) == []


async def _gone(h: Harness, run_id: str) -> bool:
    return await run_containers(h, run_id) == []


async def test_stdin_reaches_the_run_and_its_end_closes_it(harness: Harness, test_images: dict[str, str]) -> None:
    api, app_id, release_id = await deployed(harness, test_images["v1"])
    run_id = await api.run(app_id, release_id, test_images["v1"], ["/bin/sh", "-c", "cat; echo closed"], stdin=True)
    await eventually(lambda: api.started(run_id), timeout=30)
    subject = run_input_subject(app_id, run_id)
    await harness.api.nc.publish(subject, encode(RunInput(run_id=run_id, seq=0, data=b"hello\n")))
    await eventually(lambda: "hello" in api.text(run_id), timeout=10)  # echoed while it still runs
    await harness.api.nc.publish(subject, encode(RunInput(run_id=run_id, seq=1, eof=True)))
    ended = await api.finished(run_id, timeout=20)
    assert (ended.outcome, ended.exit_code) == ("exited", 0)
    assert api.text(run_id) == "hello\nclosed\n"


async def test_a_run_past_its_timeout_is_stopped_and_a_stopped_run_says_so(
    harness: Harness, test_images: dict[str, str]
) -> None:
    api, app_id, release_id = await deployed(harness, test_images["v1"])
    began = time.monotonic()
    slow = await api.run(
        app_id, release_id, test_images["v1"], ["/bin/sh", "-c", "echo begun; sleep 60"], timeout_seconds=1
    )
    ended = await api.finished(slow, timeout=30)
    assert ended.outcome == "timed_out" and ended.exit_code is not None and ended.exit_code != 0
    assert ended.last_lines == ["begun"] and "1 s" in ended.reason
    assert time.monotonic() - began < 20
    other = await api.run(app_id, release_id, test_images["v1"], ["/bin/sh", "-c", "sleep 60"])
    await eventually(lambda: api.started(other), timeout=30)
    await api.send(StopRun(app_id=app_id, run_id=other, reason="replaced"))
    stopped = await api.finished(other, timeout=30)
    assert (stopped.outcome, stopped.reason) == ("stopped", "replaced")
    assert await eventually(lambda: _gone(harness, other), timeout=10)


async def test_a_run_outlives_its_agent_and_the_next_agent_awaits_it(
    harness: Harness, test_images: dict[str, str]
) -> None:
    api, app_id, release_id = await deployed(harness, test_images["v1"])
    first = harness.agents[0][1]
    script = "echo begun; sleep 4; echo finished; exit 4"
    run_id = await api.run(app_id, release_id, test_images["v1"], ["/bin/sh", "-c", script])
    await eventually(lambda: "begun" in api.text(run_id), timeout=30)
    await harness.kill_agent(first)
    [container] = await run_containers(harness, run_id)
    assert (await container.show())["State"]["Running"]  # the run goes on without an agent
    await harness.start_agent()
    ended = await api.finished(run_id, timeout=30)
    assert (ended.outcome, ended.exit_code) == ("exited", 4)
    assert ended.last_lines == ["begun", "finished"] and len(api.started(run_id)) == 1  # awaited, not started again
    relayed = sorted((c for c in api.output if c.run_id == run_id), key=lambda c: c.seq)
    assert [c.data for c in relayed if c.seq < ADOPTED_SEQ] == [b"begun\n"]  # before the restart
    assert b"".join(c.data for c in relayed if c.seq >= ADOPTED_SEQ) == b"finished\n"  # after a gap
    assert relayed[-1].eof and relayed[-1].exit_code == 4
    assert await eventually(lambda: _gone(harness, run_id), timeout=10)
