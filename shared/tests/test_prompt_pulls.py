"""Pull requests hand a message over the moment it is there, however long they may wait; a
status left by an earlier request ends nothing later (real NATS for the waiting)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from berth_shared import bus
from berth_shared.contracts.releases import ReconcileApp, reconcile_subject
from berth_shared.prompt_pulls import Outcome, PromptPull, outcome, pull_request
from berth_shared.settings import ServiceEnv
from berth_shared.streams import COMMANDS, agent_command_consumer
from berth_testing import eventually
from nats.js import JetStreamContext

REPLY = "_INBOX_agent.x.7"


def test_a_consumer_message_is_handed_over_whichever_request_it_answers() -> None:
    assert outcome(None, "berth.cmd.agent.h.reconcile", REPLY) is Outcome.MESSAGE


def test_the_end_of_this_request_ends_the_fetch() -> None:
    assert outcome("404", REPLY, REPLY) is Outcome.ENDED
    assert outcome("408", REPLY, REPLY) is Outcome.ENDED


def test_a_status_left_by_an_earlier_request_is_ignored() -> None:
    assert outcome("408", "_INBOX_agent.x.6", REPLY) is Outcome.IGNORED
    assert outcome("100", REPLY, REPLY) is Outcome.IGNORED


def test_a_refusal_of_this_request_is_told_apart() -> None:
    assert outcome("409", REPLY, REPLY) is Outcome.REFUSED


def test_every_request_is_one_shot() -> None:
    assert json.loads(pull_request(16, 1.5)) == {"batch": 16, "expires": 1_500_000_000, "no_wait": True}


integration = pytest.mark.integration
LONG_EXPIRY = 30.0  # a request expiring is not what hands a message over
PROMPT = 5.0  # far below the expiry, far above a loaded machine's delivery time


@pytest.fixture
async def agent_pull(infra: Any) -> AsyncIterator[tuple[PromptPull, str, JetStreamContext]]:
    """A fresh host's command consumer, pulled as the agent."""
    host = f"pull{uuid.uuid4().hex[:8]}"
    env = ServiceEnv.from_env(infra.service_env("runtime-agent"))
    nc = await bus.connect(env.nats_url, env.nats_user, env.nats_password, name="test-as-agent")
    js = nc.jetstream()
    spec = agent_command_consumer(host)
    await bus.ensure_consumer(js, spec)
    pull = await PromptPull.bind(js, COMMANDS.name, spec.durable)
    try:
        yield pull, host, js
    finally:
        await pull.unsubscribe()
        await nc.close()


async def send(js: JetStreamContext, host: str, app_id: str) -> None:
    await bus.publish(js, reconcile_subject(host), ReconcileApp(app_id=app_id))


def app_ids(msgs: list[Any]) -> list[str]:
    return [json.loads(m.data)["app_id"] for m in msgs]


@integration
async def test_a_waiting_pull_hands_a_message_over_at_once(
    agent_pull: tuple[PromptPull, str, JetStreamContext], api_js: JetStreamContext
) -> None:
    pull, host, js = agent_pull
    waiting = asyncio.create_task(pull.fetch(16, LONG_EXPIRY))
    await send(api_js, host, "one")
    msgs = await asyncio.wait_for(waiting, PROMPT)
    assert app_ids(msgs) == ["one"]
    await msgs[0].ack()

    async def no_request_left_waiting() -> bool:  # none would hold the next message back
        info = await js.consumer_info(COMMANDS.name, agent_command_consumer(host).durable)
        return info.num_waiting == 0

    await eventually(no_request_left_waiting, within=PROMPT, what="no pull request left waiting")


@integration
async def test_after_a_request_expired_the_next_still_hands_over_at_once(
    agent_pull: tuple[PromptPull, str, JetStreamContext], api_js: JetStreamContext
) -> None:
    pull, host, _ = agent_pull
    for _ in range(3):
        assert await asyncio.wait_for(pull.fetch(16, 0.2), PROMPT) == []
    waiting = asyncio.create_task(pull.fetch(16, LONG_EXPIRY))
    await send(api_js, host, "after")
    msgs = await asyncio.wait_for(waiting, PROMPT)
    assert app_ids(msgs) == ["after"]
    await msgs[0].ack()


@integration
async def test_messages_waiting_come_in_batches_and_none_is_held_back(
    agent_pull: tuple[PromptPull, str, JetStreamContext], api_js: JetStreamContext
) -> None:
    pull, host, _ = agent_pull
    for app_id in ("a", "b", "c"):
        await send(api_js, host, app_id)
    first = await asyncio.wait_for(pull.fetch(2, LONG_EXPIRY), PROMPT)
    rest = await asyncio.wait_for(pull.fetch(2, LONG_EXPIRY), PROMPT)
    assert (app_ids(first), app_ids(rest)) == (["a", "b"], ["c"])
    for msg in first + rest:
        await msg.ack()
