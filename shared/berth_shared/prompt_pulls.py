"""JetStream pull requests that hand a message over the moment it is there (ADR 0023).

Every request is one-shot: ``no_wait`` with ``expires`` makes the server hold it up to
``expires`` for the first message, then answer at once with what it has (a 404 ends it), so a
request never outlives its fetch holding a message back. Each request has its own reply subject:
a status that an earlier request's answer left behind ends nothing later.

nats-py's batch ``fetch`` breaks both rules: when a status arrives first (one left by the previous
fetch, whose client-side timeout beats the server's 408 by 0.1 ms), it sends a second request
*without* ``no_wait``; that request outlives the fetch and holds the next message until it
expires, up to the fetch's whole timeout (1 s): 3 of 40 commands were 136 to 674 ms late.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import json
import logging

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

log = logging.getLogger("berth.bus")

# Beyond ``expires``: the server's 408 is on its way unless the connection is down.
ANSWER_GRACE_SECONDS = 1.0
# After the server refused a request (409: too many waiting, consumer deleted, ...): no spin.
REFUSED_PAUSE_SECONDS = 0.5


class Outcome(enum.Enum):
    MESSAGE = "message"  # a message of the consumer, whichever request it answers
    ENDED = "ended"  # this request is over: no (more) messages, or it expired
    REFUSED = "refused"  # the server refused this request
    IGNORED = "ignored"  # a status for another request, or a heartbeat


def outcome(status: str | None, subject: str, reply: str) -> Outcome:
    """What a message on the pull inbox means for the request answered on ``reply``."""
    if not status:
        return Outcome.MESSAGE
    if subject != reply or status == "100":
        return Outcome.IGNORED
    if status in ("404", "408"):
        return Outcome.ENDED
    return Outcome.REFUSED


def pull_request(batch: int, expires: float) -> bytes:
    """The one-shot request: up to ``batch`` messages, the first waited for up to ``expires``."""
    return json.dumps({"batch": batch, "expires": int(expires * 1_000_000_000), "no_wait": True}).encode()


class PromptPull:
    """Pulls from one durable consumer; :meth:`fetch` one request at a time."""

    def __init__(self, nc: Client, next_subject: str, inbox: str, sub: Subscription) -> None:
        self._nc = nc
        self._next_subject = next_subject
        self._inbox = inbox
        self._sub = sub
        self._numbers = itertools.count(1)

    @classmethod
    async def bind(cls, js: JetStreamContext, stream: str, durable: str) -> PromptPull:
        nc: Client = js._nc  # nats-py keeps the connection of a context private
        inbox = nc.new_inbox()
        sub = await nc.subscribe(f"{inbox}.*")
        return cls(nc, f"{js._prefix}.CONSUMER.MSG.NEXT.{stream}.{durable}", inbox, sub)

    async def fetch(self, batch: int, expires: float) -> list[Msg]:
        """Up to ``batch`` messages: those already delivered, else as soon as the first one
        arrives within ``expires`` (with whatever came with it); none when it expired."""
        if held := await self._delivered(batch):
            return held
        reply = f"{self._inbox}.{next(self._numbers)}"
        await self._nc.publish(self._next_subject, pull_request(batch, expires), reply=reply)
        return await self._answer(reply, batch, asyncio.get_running_loop().time() + expires + ANSWER_GRACE_SECONDS)

    async def _delivered(self, batch: int) -> list[Msg]:
        """Messages an earlier request delivered after its fetch had returned."""
        msgs: list[Msg] = []
        while self._sub.pending_msgs and len(msgs) < batch:
            msg = await self._sub.next_msg(timeout=None)
            if outcome(_status(msg), msg.subject, "") is Outcome.MESSAGE:
                msgs.append(msg)
        return msgs

    async def _answer(self, reply: str, batch: int, deadline: float) -> list[Msg]:
        msgs: list[Msg] = []
        loop = asyncio.get_running_loop()
        while len(msgs) < batch and (left := deadline - loop.time()) > 0:
            try:
                msg = await self._sub.next_msg(timeout=left)
            except nats.errors.TimeoutError:
                break
            match outcome(_status(msg), msg.subject, reply):
                case Outcome.MESSAGE:
                    msgs.append(msg)
                case Outcome.ENDED:
                    break
                case Outcome.REFUSED:
                    log.warning("pull refused on %s: %s %s", self._next_subject, _status(msg), _description(msg))
                    await asyncio.sleep(REFUSED_PAUSE_SECONDS)
                    break
        return msgs

    async def unsubscribe(self) -> None:
        await self._sub.unsubscribe()


def _status(msg: Msg) -> str | None:
    return msg.headers.get("Status") if msg.headers else None


def _description(msg: Msg) -> str:
    return msg.headers.get("Description", "") if msg.headers else ""
