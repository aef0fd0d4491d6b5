"""Thin helpers over nats-py: connect, declare streams/consumers, the one pull loop and its
consumer, request/reply.

Handlers are idempotent (JetStream is at-least-once). A handler that raises
:class:`Poison` has its message terminated; any other exception naks it for redelivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TypeVar, cast

import msgspec
import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import BadRequestError, NotFoundError, ServiceUnavailableError

from berth_shared import prompt_pulls
from berth_shared.contracts.base import encode
from berth_shared.errors import BerthError, ErrorReply, InternalError, from_reply, to_reply
from berth_shared.identities import inbox_prefix
from berth_shared.streams import ConsumerSpec, StreamSpec

log = logging.getLogger("berth.bus")

T = TypeVar("T")


class Poison(Exception):
    """A message that can never be handled; it is terminated, not redelivered."""


async def connect(url: str, user: str | None = None, password: str | None = None, name: str = "") -> Client:
    async def on_error(exc: Exception) -> None:
        log.warning("nats error: %s", exc)

    return await nats.connect(
        servers=[url],
        user=user,
        password=password,
        name=name or None,
        inbox_prefix=inbox_prefix(user),
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        error_cb=on_error,
        connect_timeout=5,
        allow_reconnect=True,
    )


def _stream_config(spec: StreamSpec) -> js_api.StreamConfig:
    return js_api.StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        retention=js_api.RetentionPolicy.WORK_QUEUE if spec.work_queue else js_api.RetentionPolicy.LIMITS,
        storage=js_api.StorageType.FILE,
        max_age=float(spec.max_age_seconds),
        max_bytes=spec.max_bytes,
        duplicate_window=float(spec.duplicate_window_seconds),
    )


async def _retrying(operation: Callable[[], Awaitable[T]], attempts: int = 40) -> T:
    """Run a JetStream API call, retrying while JetStream answers "unavailable" (it does so
    while it starts, recovers its store, or is very busy)."""
    for attempt in range(attempts):
        try:
            return await operation()
        except (ServiceUnavailableError, nats.errors.NoRespondersError, nats.errors.TimeoutError):
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.25)
    raise AssertionError("unreachable")


async def ensure_stream(js: JetStreamContext, spec: StreamSpec) -> None:
    """Create or update a stream: only the provisioning step at start may (the launcher's)."""
    await _retrying(lambda: _ensure_stream(js, spec))


async def _ensure_stream(js: JetStreamContext, spec: StreamSpec) -> None:
    config = _stream_config(spec)
    try:
        await js.stream_info(spec.name)
    except NotFoundError:
        try:
            await js.add_stream(config)
            return
        except BadRequestError:
            pass  # created concurrently by another service: fall through to update
    await js.update_stream(config)


async def ensure_consumer(js: JetStreamContext, spec: ConsumerSpec) -> None:
    """Create (or update) one of the caller's own durable consumers: each identity may only
    create the durables it owns (``streams.OWNED_CONSUMERS``)."""
    await _retrying(lambda: _ensure_consumer(js, spec))


async def _ensure_consumer(js: JetStreamContext, spec: ConsumerSpec) -> None:
    config = js_api.ConsumerConfig(
        durable_name=spec.durable,
        filter_subject=spec.filter_subject,
        ack_policy=js_api.AckPolicy.EXPLICIT,
        deliver_policy=js_api.DeliverPolicy.ALL,
        ack_wait=float(spec.ack_wait_seconds),
        max_deliver=spec.max_deliver,
        max_ack_pending=spec.max_ack_pending,
        backoff=list(spec.backoff_seconds) or None,
    )
    await js.add_consumer(spec.stream, config)


Handler = Callable[[Msg], Awaitable[None]]


# How long one pull request waits for a first message: a message is handed over as soon as it
# arrives whatever this is; it bounds how long a stop or a lost request goes unnoticed.
PULL_EXPIRES_SECONDS = 1.0


class Retry(Exception):
    """The handler has already said why it cannot finish now: the message is naked for
    redelivery after the consumer's retry delay, without a traceback in the log."""


async def pulls(
    js: JetStreamContext, spec: ConsumerSpec, *, batch: int = 16, stop: asyncio.Event | None = None
) -> AsyncGenerator[list[Msg], None]:
    """The one JetStream pull loop: each fetch of up to ``batch`` messages from the durable
    consumer ``spec``, handed over as soon as a message is there (``prompt_pulls``), until
    ``stop`` (or cancellation). A quiet second or a lost connection yields nothing; the caller
    settles every message it is given.

    Use it as ``async with contextlib.aclosing(pulls(...))``: the pull subscription is
    unsubscribed on the way out (an idle one left behind keeps unread status messages, and
    ``Client.drain()`` would then wait out its whole timeout).
    """
    sub = await prompt_pulls.PromptPull.bind(js, spec.stream, spec.durable)
    stop = stop or asyncio.Event()
    try:
        while not stop.is_set():
            try:
                msgs = await sub.fetch(batch, PULL_EXPIRES_SECONDS)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except (nats.errors.ConnectionClosedError, nats.errors.NoServersError):
                await asyncio.sleep(0.5)
                continue
            if msgs:
                yield msgs
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()


async def consume(
    js: JetStreamContext,
    spec: ConsumerSpec,
    handler: Handler,
    *,
    batch: int = 16,
    stop: asyncio.Event | None = None,
    concurrency: int = 1,
    retry_delay: float = 1.0,
    keep_alive: float | None = None,
) -> None:
    """Pull from a durable consumer until ``stop`` (or cancellation) and settle each message
    with :func:`settle` (ack when handled, term when poison, nak otherwise).

    With ``concurrency`` above 1 each message is handled in its own task, at most that many at
    once (the next pull waits for room); on the way out the ones still running are cancelled,
    which naks them for the next consumer at once. ``keep_alive`` (seconds) reports long
    handlers as in progress so their ack wait does not run out.
    """

    async def one(msg: Msg) -> None:
        await settle(msg, handler, what=spec.durable, retry_delay=retry_delay, keep_alive=keep_alive)

    in_flight: set[asyncio.Task[None]] = set()
    room = asyncio.Semaphore(max(1, concurrency))
    try:
        async with contextlib.aclosing(pulls(js, spec, batch=batch, stop=stop)) as fetched:
            async for msgs in fetched:
                for msg in msgs:
                    if concurrency <= 1:
                        await one(msg)
                        continue
                    await room.acquire()
                    task = asyncio.create_task(one(msg))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                    task.add_done_callback(lambda _: room.release())
                await room.acquire()  # room for at least one more before the next pull
                room.release()
    finally:
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)


async def settle(
    msg: Msg,
    handler: Handler,
    *,
    what: str = "",
    retry_delay: float = 1.0,
    keep_alive: float | None = None,
) -> None:
    """Run ``handler`` on one message and settle it: ack when it returns; term when it is poison
    (:class:`Poison` or undecodable); nak after ``retry_delay`` when it fails (:class:`Retry`:
    already explained by the handler); nak at once when cancelled (the service is stopping)."""
    alive = asyncio.create_task(_keep_alive(msg, keep_alive)) if keep_alive else None
    try:
        await handler(msg)
    except (Poison, msgspec.ValidationError, msgspec.DecodeError) as exc:
        log.error("terminating poison message on %s (%s): %s", msg.subject, what, exc)
        await _quietly(msg.term())
        return
    except Retry:
        await _quietly(msg.nak(delay=retry_delay))
        return
    except Exception:
        log.exception("handler for %s failed; message will be redelivered", msg.subject)
        await _quietly(msg.nak(delay=retry_delay))
        return
    except asyncio.CancelledError:
        await _quietly(msg.nak())
        raise
    finally:
        if alive is not None:
            alive.cancel()
    await _quietly(msg.ack())


async def _keep_alive(msg: Msg, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        await _quietly(msg.in_progress())


async def _quietly(operation: Awaitable[None]) -> None:
    with contextlib.suppress(Exception):
        await operation


async def publish(js: JetStreamContext, subject: str, message: msgspec.Struct, msg_id: str | None = None) -> None:
    headers = {"Nats-Msg-Id": msg_id} if msg_id else None
    await js.publish(subject, encode(message), headers=headers)


async def request(nc: Client, subject: str, message: msgspec.Struct, reply_type: type[T], timeout: float = 5.0) -> T:
    """Send a request and decode the reply; an :class:`ErrorReply` is raised as its BerthError."""
    response = await nc.request(subject, encode(message), timeout=timeout)
    reply: object = msgspec.json.decode(response.data, type=reply_type | ErrorReply)
    if isinstance(reply, ErrorReply):
        raise from_reply(reply)
    return cast(T, reply)


Responder = Callable[[bytes], Awaitable[msgspec.Struct]]


async def serve(nc: Client, subject: str, queue: str, responder: Responder) -> None:
    """Answer requests on ``subject`` (queue group ``queue``); errors become ErrorReply."""

    async def on_request(msg: Msg) -> None:
        try:
            reply: msgspec.Struct = await responder(msg.data)
        except BerthError as exc:
            reply = to_reply(exc)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            reply = to_reply(InternalError(f"bad request on {subject}: {exc}"))
        except Exception as exc:
            log.exception("responder for %s failed", subject)
            reply = to_reply(InternalError(f"{type(exc).__name__}: {exc}"))
        if msg.reply:
            await msg.respond(encode(reply))

    await nc.subscribe(subject, queue=queue, cb=on_request)
