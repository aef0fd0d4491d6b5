"""The command consumer: agent commands from BERTH_CMD (``ReconcileApp``, ``RestartInPlace``),
handled concurrently; the agent's per-app lock serializes the commands of one app.

A message is acked only after its reconcile finished, kept alive with ``in_progress()`` during
long rollouts, and naked with a delay when the engine or the API cannot be reached, so no
command is lost. Messages that cannot be decoded are terminated.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from berth_shared import bus
from berth_shared.contracts.base import decode
from berth_shared.contracts.releases import AgentCommand
from berth_shared.errors import BusUnavailable, EngineUnavailable
from berth_shared.streams import ConsumerSpec
from nats.aio.msg import Msg
from nats.js import JetStreamContext

log = logging.getLogger("berth.agent.commands")

MAX_IN_FLIGHT = 32
FETCH_BATCH = 16
RETRY_DELAY_SECONDS = 5.0
IN_PROGRESS_EVERY_SECONDS = 15.0

Dispatch = Callable[[AgentCommand], Awaitable[None]]


async def run_command(msg: Msg, dispatch: Dispatch) -> None:
    """Decode one command and run it; a failure is logged here and raised as ``bus.Retry``."""
    command: AgentCommand = decode(msg.data, AgentCommand)  # undecodable: terminated by the loop
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


async def consume(js: JetStreamContext, spec: ConsumerSpec, dispatch: Dispatch) -> None:
    """Pull commands forever (the shared loop); each is handled in its own task, at most
    :data:`MAX_IN_FLIGHT` at once (the per-app lock serializes the commands of one app)."""
    await bus.consume(
        js,
        spec,
        lambda m: run_command(m, dispatch),
        batch=FETCH_BATCH,
        concurrency=MAX_IN_FLIGHT,
        retry_delay=RETRY_DELAY_SECONDS,
        keep_alive=IN_PROGRESS_EVERY_SECONDS,
    )
