"""How the agent's responders (``responders/``) answer a query: with what they compute, or not
at all.

A responder that fails (the engine is down, the request is unreadable) sends nothing: the asker
times out and tries again later, rather than acting on an empty or wrong answer."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

import msgspec
from berth_shared.contracts.base import encode
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

log = logging.getLogger("berth.agent.responders")

Responder = Callable[[bytes], Awaitable[msgspec.Struct]]


async def answer_or_stay_silent(nc: Client, subject: str, responder: Responder, what: str) -> Subscription:
    """Answer requests on ``subject`` (queue group ``agent``) with ``responder(data)``."""

    async def on_request(msg: Msg) -> None:
        try:
            answer = await responder(msg.data)
        except Exception as exc:
            log.info("%s query not answered: %s", what, exc)
            return
        if msg.reply:
            with contextlib.suppress(Exception):
                await msg.respond(encode(answer))

    return await nc.subscribe(subject, queue="agent", cb=on_request)
