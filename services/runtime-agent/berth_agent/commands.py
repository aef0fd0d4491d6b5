"""The command consumer: agent commands from BERTH_CMD (``ReconcileApp``, ``RestartInPlace``),
handled concurrently; the agent's per-app lock serializes the commands of one app.

A message is acked only after its reconcile finished, kept alive with ``in_progress()`` during
long rollouts, and naked with a delay when the engine or the API cannot be reached, so no
command is lost. Messages that cannot be decoded are terminated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import msgspec
import nats.errors
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


async def keep_alive(msg: Msg, every: float = IN_PROGRESS_EVERY_SECONDS) -> None:
    while True:
        await asyncio.sleep(every)
        with contextlib.suppress(Exception):
            await msg.in_progress()


async def handle(msg: Msg, dispatch: Dispatch) -> None:
    try:
        command: AgentCommand = decode(msg.data, AgentCommand)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        log.error("terminating undecodable command on %s: %s", msg.subject, exc)
        with contextlib.suppress(Exception):
            await msg.term()
        return
    alive = asyncio.create_task(keep_alive(msg))
    try:
        await dispatch(command)
    except (EngineUnavailable, BusUnavailable) as exc:
        log.warning("%s postponed: %s", type(command).__name__, exc.message, extra={"app_id": command.app_id})
        await settle(msg.nak(delay=RETRY_DELAY_SECONDS))
        return
    except Exception:
        log.exception("%s failed; it will be redelivered", type(command).__name__, extra={"app_id": command.app_id})
        await settle(msg.nak(delay=RETRY_DELAY_SECONDS))
        return
    except asyncio.CancelledError:
        await settle(msg.nak())  # the agent is stopping: hand the command to the next one now
        raise
    finally:
        alive.cancel()
    await settle(msg.ack())


async def settle(operation: Awaitable[None]) -> None:
    with contextlib.suppress(Exception):
        await operation


async def consume(js: JetStreamContext, spec: ConsumerSpec, dispatch: Dispatch) -> None:
    """Pull commands forever; each is handled in its own task (the per-app lock serializes)."""
    sub = await js.pull_subscribe_bind(spec.durable, stream=spec.stream)
    in_flight: set[asyncio.Task[None]] = set()
    room = asyncio.Semaphore(MAX_IN_FLIGHT)
    try:
        while True:
            await room.acquire()
            room.release()
            try:
                msgs = await sub.fetch(FETCH_BATCH, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except (nats.errors.ConnectionClosedError, nats.errors.NoServersError):
                await asyncio.sleep(0.5)
                continue
            for msg in msgs:
                await room.acquire()
                task = asyncio.create_task(handle(msg, dispatch))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
                task.add_done_callback(lambda _: room.release())
    finally:
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
