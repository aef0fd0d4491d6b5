"""Run family: one-off containers of an app — `berth run`, cron runs (ADR 0026).

A run is written by the API (its row, the audit entry and the command in one transaction) and
started by the runtime agent:

- command ``berth.cmd.agent.<host>.run`` (BERTH_CMD, through the outbox): :class:`StartRun`, and
  ``berth.cmd.agent.<host>.stop_run``: :class:`StopRun` (a cron job's ``replace`` policy, a user's
  stop). The agent's command consumer decodes ``AgentCommand | RunCommand``.
- query ``berth.rpc.api.desired.run`` (core NATS, under the agent's ``berth.rpc.api.desired.>``):
  :class:`GetDesiredRun` -> :class:`DesiredRunReply`: the image, command, limits and the env
  sealed to the agent's key, exactly as for a release (env never travels in a command).
- events ``berth.evt.agent.run.<started|finished>.<app_id>`` (BERTH_EVT; the API's
  ``api-run-events``): :class:`RunStarted`, :class:`RunFinished`.
- live output ``berth.run.<app_id>.<run_id>.out`` and input ``….in`` (core NATS only, in no
  stream: only the agent publishes output and reads input, only the API the reverse), for an
  attached run (``berth run``): :class:`RunOutput`, :class:`RunInput`. The output is also
  collected like every container's (``LogBatch.process`` = ``run``/``cron``, ``run_id``), so it
  is kept as the app's logs; the live relay is for the terminal and may be incomplete (``seq``
  tells a gap), the logs are the record.

A release command is not a run: the agent runs it inside the rollout (``DesiredRelease.release_command``).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from berth_shared.contracts.base import Message
from berth_shared.contracts.desired import Resources

DESIRED_RUN = "berth.rpc.api.desired.run"
RUN_EVENTS = "berth.evt.agent.run.>"
RUN_STREAMS = "berth.run.>"

RunKind = Literal["run", "cron"]
# How a run ended: its command exited (``exit_code``); it ran past its timeout (SIGTERM, then
# SIGKILL after the app's stop timeout); it was stopped (``replace``, a user); the container never
# started (no free address, image gone, engine refused: ``reason``); or the agent lost it.
RunOutcome = Literal["exited", "timed_out", "stopped", "failed_to_start", "lost"]


def run_command_subject(host: str) -> str:
    return f"berth.cmd.agent.{host}.run"


def stop_run_subject(host: str) -> str:
    return f"berth.cmd.agent.{host}.stop_run"


def run_event_subject(event: str, app_id: str) -> str:
    return f"berth.evt.agent.run.{event}.{app_id}"


def run_output_subject(app_id: str, run_id: str) -> str:
    return f"berth.run.{app_id}.{run_id}.out"


def run_input_subject(app_id: str, run_id: str) -> str:
    return f"berth.run.{app_id}.{run_id}.in"


class StartRun(Message, kw_only=True):
    """Start run ``run_id`` of ``app_id``; the agent asks :data:`DESIRED_RUN` for what to start.
    A redelivered command for a run the agent already started or finished changes nothing."""

    app_id: str
    run_id: str


class StopRun(Message, kw_only=True):
    app_id: str
    run_id: str
    reason: str = ""


RunCommand = StartRun | StopRun


class GetDesiredRun(Message, kw_only=True):
    app_id: str
    run_id: str
    # The agent's X25519 public key: the reply's env is sealed to it.
    seal_to: str | None = None


class DesiredRun(msgspec.Struct, kw_only=True):
    run_id: str
    app_id: str
    kind: RunKind
    # The release whose image and env the run uses (the live one when the run was created).
    release_id: str
    image: str
    command: list[str]
    # The app's environment sealed to ``seal_to``, bound to the app and ``release_id``.
    sealed_env: str | None = None
    resources: Resources = msgspec.field(default_factory=Resources)
    timeout_seconds: int = 3600
    stop_timeout_seconds: int = 10
    # ``berth run``: relay output live on ``run_output_subject``; ``stdin``: also read
    # ``run_input_subject`` into the container's stdin.
    attach: bool = False
    stdin: bool = False
    # The cron job's name (kind ``cron``).
    job: str = ""


class DesiredRunReply(Message, kw_only=True):
    # None: no such run, or it is no longer to be started (finished, stopped, app deleted).
    run: DesiredRun | None


class RunStarted(Message, kw_only=True):
    app_id: str
    run_id: str
    container_id: str
    address: str = ""


class RunFinished(Message, kw_only=True):
    app_id: str
    run_id: str
    outcome: RunOutcome
    # The command's exit code (``exited``, and ``timed_out``/``stopped`` once killed); None when it never ran.
    exit_code: int | None = None
    reason: str = ""
    duration_ms: int = 0
    # The last lines of output (at most 20), for a failed cron run's history and webhook.
    last_lines: list[str] = []


RunEvent = RunStarted | RunFinished


# The first ``seq`` of a run adopted after an agent restart: what the old agent relayed is not
# known, so the relay goes on after a gap from here (the terminal tells it; the logs hold every line).
ADOPTED_SEQ = 1 << 20


class RunOutput(Message, kw_only=True):
    """A chunk of an attached run's output, in order (``seq`` from 0, per run); ``eof`` ends the
    stream (then ``exit_code`` is set when the command exited)."""

    run_id: str
    seq: int
    stream: Literal["stdout", "stderr"] = "stdout"
    data: bytes = b""
    eof: bool = False
    exit_code: int | None = None


class RunInput(Message, kw_only=True):
    """A chunk of the terminal's stdin for an attached run; ``eof`` closes the container's stdin."""

    run_id: str
    seq: int
    data: bytes = b""
    eof: bool = False
