"""Runs: commands the agent's consumer can tell from the release commands, events the API
applies, the live relay's subjects (in no stream), defaults for what a newer API leaves out."""

from __future__ import annotations

from berth_shared.contracts.base import decode, encode
from berth_shared.contracts.releases import AgentCommand, ReconcileApp, agent_commands
from berth_shared.contracts.runs import (
    DESIRED_RUN,
    RUN_EVENTS,
    RUN_STREAMS,
    DesiredRun,
    DesiredRunReply,
    RunCommand,
    RunEvent,
    RunFinished,
    RunOutput,
    StartRun,
    StopRun,
    run_command_subject,
    run_event_subject,
    run_input_subject,
    run_output_subject,
    stop_run_subject,
)
from berth_shared.streams import ALL_STREAMS


def test_run_commands_share_the_agents_command_subjects_and_decode_beside_its_commands() -> None:
    prefix = agent_commands("local").removesuffix(">")
    assert run_command_subject("local").startswith(prefix) and stop_run_subject("local").startswith(prefix)
    for command in (StartRun(app_id="a", run_id="r"), StopRun(app_id="a", run_id="r", reason="replace")):
        assert decode(encode(command), AgentCommand | RunCommand) == command
    assert isinstance(decode(encode(ReconcileApp(app_id="a")), AgentCommand | RunCommand), ReconcileApp)


def test_the_agent_asks_for_a_run_under_its_desired_state_subject() -> None:
    # The agent may publish berth.rpc.api.desired.> only (ADR 0012): the run query needs no new grant.
    assert DESIRED_RUN.startswith("berth.rpc.api.desired.")
    reply = decode(
        b'{"type":"DesiredRunReply","run":{"run_id":"r","app_id":"a","kind":"cron","release_id":"v",'
        b'"image":"sha256:x","command":["report"]}}',
        DesiredRunReply,
    )
    run = reply.run
    assert isinstance(run, DesiredRun) and run.sealed_env is None and not run.attach and run.job == ""
    assert run.resources.memory_mb == 256 and run.timeout_seconds == 3600


def test_run_events_are_agent_events_and_the_live_relay_is_in_no_stream() -> None:
    assert run_event_subject("finished", "a") == "berth.evt.agent.run.finished.a"
    assert run_event_subject("finished", "a").startswith(RUN_EVENTS.removesuffix(">"))
    finished = decode(encode(RunFinished(app_id="a", run_id="r", outcome="exited", exit_code=3)), RunEvent)
    assert isinstance(finished, RunFinished) and finished.exit_code == 3 and finished.last_lines == []
    assert run_output_subject("a", "r") == "berth.run.a.r.out" and run_input_subject("a", "r") == "berth.run.a.r.in"
    captured = {subject.removesuffix(">") for stream in ALL_STREAMS for subject in stream.subjects}
    assert not any(RUN_STREAMS.removesuffix(">").startswith(prefix) for prefix in captured)


def test_output_chunks_carry_bytes() -> None:
    chunk = RunOutput(run_id="r", seq=0, data=b"\xff\x00hi\n")
    assert decode(encode(chunk), RunOutput).data == b"\xff\x00hi\n"
