"""The API's one way to ask another service: replies, error replies, silence and a closed
connection each end as the user will read them (real NATS, the API's and the logs service's
own identities)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import nats.errors
import pytest
from berth_api import rpc
from berth_shared import bus
from berth_shared.contracts.base import encode
from berth_shared.contracts.logs import GetRetention, Retention
from berth_shared.errors import BusUnavailable, ErrorReply, InternalError, NotFound
from berth_shared.settings import ServiceEnv
from nats.aio.client import Client
from nats.aio.msg import Msg

pytestmark = pytest.mark.integration


async def connect(infra: Any, service: str) -> Client:
    env = ServiceEnv.from_env(infra.service_env(service))
    return await bus.connect(env.nats_url, env.nats_user, env.nats_password, name=f"test-rpc-as-{service}")


@pytest.fixture
async def api_nc(infra: Any) -> AsyncIterator[Client]:
    nc = await connect(infra, "api")
    yield nc
    await nc.close()


@pytest.fixture
async def responder(infra: Any) -> AsyncIterator[Client]:
    """The logs service's identity: it may answer ``berth.rpc.logs.>``."""
    nc = await connect(infra, "logs")
    yield nc
    await nc.close()


def subject() -> str:
    return f"berth.rpc.logs.test-{uuid.uuid4().hex[:8]}"


async def answer_with(nc: Client, subj: str, payload: bytes, asker: Client) -> None:
    """``nc`` answers ``subj`` with ``payload`` from now on, as ``asker`` sees it: the server's
    interest in a new subscription can reach another connection a moment after the flush (CI
    saw one no-responders reply in ~1,800 tests), so a probe is asked until it is answered."""

    async def on(msg: Msg) -> None:
        await msg.respond(payload)

    await nc.subscribe(subj, cb=on)
    await nc.flush()
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        try:
            await asker.request(subj, b"{}", timeout=1)
            return
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)


async def test_a_reply_is_decoded_into_the_type_asked_for(api_nc: Client, responder: Client) -> None:
    subj = subject()
    await answer_with(responder, subj, encode(Retention(app_id="a", max_age_days=7, max_lines=10)), api_nc)
    reply = await rpc.ask(api_nc, subj, GetRetention(app_id="a"), Retention, service=rpc.LOGS)
    assert (reply.app_id, reply.max_age_days, reply.max_lines) == ("a", 7, 10)


async def test_an_error_reply_keeps_its_code(api_nc: Client, responder: Client) -> None:
    subj = subject()
    await answer_with(
        responder, subj, msgspec.json.encode(ErrorReply(code="not_found", message="app 'x' not found")), api_nc
    )
    with pytest.raises(NotFound, match="app 'x' not found"):
        await rpc.ask(api_nc, subj, GetRetention(app_id="x"), Retention, service=rpc.LOGS)


async def test_nobody_answering_is_bus_unavailable_naming_the_service(api_nc: Client) -> None:
    with pytest.raises(BusUnavailable, match="the logs service is not answering"):
        await rpc.ask(api_nc, subject(), GetRetention(app_id="a"), Retention, service=rpc.LOGS, timeout=1.0)
    assert (
        await rpc.ask_if_answered(api_nc, subject(), GetRetention(app_id="a"), Retention, service=rpc.LOGS, timeout=1.0)
        is None
    )


async def test_a_responder_too_slow_is_bus_unavailable(api_nc: Client, responder: Client) -> None:
    subj = subject()
    release = asyncio.Event()

    async def slow(msg: Msg) -> None:
        await release.wait()

    await responder.subscribe(subj, cb=slow)
    await responder.flush()
    try:
        with pytest.raises(BusUnavailable, match="the health service is not answering"):
            await rpc.ask(api_nc, subj, GetRetention(app_id="a"), Retention, service=rpc.HEALTH, timeout=0.5)
    finally:
        release.set()


async def test_an_unreadable_reply_is_internal(api_nc: Client, responder: Client) -> None:
    subj = subject()
    await answer_with(responder, subj, b'{"type": "something_else"}', api_nc)
    with pytest.raises(InternalError, match="unreadable"):
        await rpc.ask(api_nc, subj, GetRetention(app_id="a"), Retention, service=rpc.LOGS)


async def test_a_closed_connection_is_bus_unavailable(infra: Any) -> None:
    nc = await connect(infra, "api")
    await nc.close()
    with pytest.raises(BusUnavailable, match="not connected to the bus"):
        await rpc.ask(nc, subject(), GetRetention(app_id="a"), Retention, service=rpc.LOGS)
    with pytest.raises(BusUnavailable, match="not connected to the bus"):
        await rpc.ask_if_answered(nc, subject(), GetRetention(app_id="a"), Retention, service=rpc.LOGS, timeout=1.0)
