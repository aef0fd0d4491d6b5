"""Asking another service over the bus (core NATS request/reply): the API's one way to do it.

A reply is decoded into the type asked for; a responder's ``ErrorReply`` is raised as the
BerthError of its code (so a 404 of the logs service stays a 404 here). When nobody answers in
time (no responders, timeout) the request fails with ``bus_unavailable`` naming the service;
so does a request made while the API is not connected to the bus. A reply that cannot be read
is ``internal``. Callers for which silence is an answer (the agent restarting) use
:func:`ask_if_answered`."""

from __future__ import annotations

from typing import TypeVar

import msgspec
import nats.errors
from berth_shared import bus
from berth_shared.errors import BusUnavailable, InternalError
from nats.aio.client import Client

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0
# Who is asked, as errors name them.
AGENT = "the runtime agent"
LOGS = "the logs service"
HEALTH = "the health service"
ROUTER = "the router"
# Nobody answered: the service is not running (no responders) or did not answer in time.
NO_ANSWER = (nats.errors.NoRespondersError, nats.errors.TimeoutError, TimeoutError)


async def ask(
    nc: Client, subject: str, message: msgspec.Struct, reply: type[T], *, service: str, timeout: float = DEFAULT_TIMEOUT
) -> T:
    """The reply of ``service`` (named in errors, e.g. ``"the logs service"``) to ``message``."""
    try:
        return await _request(nc, subject, message, reply, service=service, timeout=timeout)
    except NO_ANSWER as exc:
        raise BusUnavailable(f"{service} is not answering ({type(exc).__name__}); try again shortly") from None


async def ask_if_answered(
    nc: Client, subject: str, message: msgspec.Struct, reply: type[T], *, service: str, timeout: float
) -> T | None:
    """As :func:`ask`, but None when nobody answers in time."""
    try:
        return await _request(nc, subject, message, reply, service=service, timeout=timeout)
    except NO_ANSWER:
        return None


async def _request(
    nc: Client, subject: str, message: msgspec.Struct, reply: type[T], *, service: str, timeout: float
) -> T:
    try:
        return await bus.request(nc, subject, message, reply, timeout=timeout)
    except NO_ANSWER:
        raise
    except nats.errors.Error as exc:  # connection closed, no servers, draining
        raise BusUnavailable(f"not connected to the bus: {exc}") from None
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InternalError(f"{service} answered {subject} with something unreadable: {exc}") from None
