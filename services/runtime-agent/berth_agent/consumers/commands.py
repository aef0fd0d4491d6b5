"""The command consumer: agent commands from BERTH_CMD (``ReconcileApp``, ``RestartInPlace``, and
the run commands ``StartRun``/``StopRun``),
handled concurrently; the agent's per-app lock serializes the commands of one app.

A message is acked only after its reconcile finished, kept alive with ``in_progress()`` during
long rollouts, and naked with a delay when the engine or the API cannot be reached, so no
command is lost. Messages that cannot be decoded are terminated.

A command sent for a release is reported on that release's timeline the moment it arrives
(``command.received``, while the reconcile already runs): the last hop of request → outbox →
JetStream → agent (ADR 0023).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any, TypeAlias

from berth_shared import bus
from berth_shared.contracts.base import decode, utcnow
from berth_shared.contracts.releases import COMMAND_RECEIVED, AgentCommand, ReconcileApp, ReleaseStep
from berth_shared.contracts.runs import RunCommand
from berth_shared.errors import BusUnavailable, EngineUnavailable
from berth_shared.streams import ConsumerSpec
from nats.aio.msg import Msg
from nats.js import JetStreamContext

log = logging.getLogger("berth.agent.commands")

MAX_IN_FLIGHT = 32
FETCH_BATCH = 16
RETRY_DELAY_SECONDS = 5.0
IN_PROGRESS_EVERY_SECONDS = 15.0

Command: TypeAlias = AgentCommand | RunCommand
Dispatch = Callable[[Command], Awaitable[None]]
Report = Callable[[ReleaseStep], Coroutine[Any, Any, None]]


def received_step(command: Command, stored_at: datetime, now: datetime) -> ReleaseStep | None:
    """The command's arrival here for the timeline of the release it was sent for (none for a
    command sent for no release); it took the time since JetStream stored it."""
    if not isinstance(command, ReconcileApp) or not command.release_id:
        return None
    waited = max(0, round((now - stored_at).total_seconds() * 1000))
    detail = "the agent's pull got it from JetStream"
    return ReleaseStep(
        app_id=command.app_id,
        release_id=command.release_id,
        step=COMMAND_RECEIVED,
        detail=detail,
        duration_ms=waited,
        at=now,
    )


async def run_command(msg: Msg, dispatch: Dispatch, report: Report | None = None) -> None:
    """Decode one command and run it (reporting its arrival with ``report``); a failure is
    logged here and raised as ``bus.Retry``."""
    command: Command = decode(msg.data, Command)  # undecodable: terminated by the loop
    step = received_step(command, msg.metadata.timestamp, utcnow()) if report is not None else None
    reported: asyncio.Task[None] | None = None
    if report is not None and step is not None:
        reported = asyncio.create_task(report(step))
    try:
        await _run(command, dispatch)
    finally:
        if reported is not None:
            await reported


async def _run(command: Command, dispatch: Dispatch) -> None:
    try:
        await dispatch(command)
    except (EngineUnavailable, BusUnavailable) as exc:
        log.warning("%s postponed: %s", type(command).__name__, exc.message, extra={"app_id": command.app_id})
        raise bus.Retry from None
    except Exception:
        log.exception("%s failed; it will be redelivered", type(command).__name__, extra={"app_id": command.app_id})
        raise bus.Retry from None


async def handle(msg: Msg, dispatch: Dispatch) -> None:
    """Run one command and settle its message (how :func:`consume` handles each)."""
    await bus.settle(
        msg,
        lambda m: run_command(m, dispatch),
        what="agent commands",
        retry_delay=RETRY_DELAY_SECONDS,
        keep_alive=IN_PROGRESS_EVERY_SECONDS,
    )


async def consume(js: JetStreamContext, spec: ConsumerSpec, dispatch: Dispatch, report: Report | None = None) -> None:
    """Pull commands forever (the shared loop); each is handled in its own task, at most
    :data:`MAX_IN_FLIGHT` at once (the per-app lock serializes the commands of one app)."""
    await bus.consume(
        js,
        spec,
        lambda m: run_command(m, dispatch, report),
        batch=FETCH_BATCH,
        concurrency=MAX_IN_FLIGHT,
        retry_delay=RETRY_DELAY_SECONDS,
        keep_alive=IN_PROGRESS_EVERY_SECONDS,
    )
