"""The outbox publishes a row the moment the transaction that wrote it commits, not on its poll
tick (set to a minute here); rows a crash left behind go out when the publisher starts, and the
poll still publishes while its listening connection is gone. A release's timeline records when
its command was published (real Postgres, real NATS, pulled as the agent would)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from berth_api import apps_store
from berth_api.outbox import OutboxPublisher, enqueue
from berth_api.validation import CreateApp
from berth_shared import bus
from berth_shared.contracts.base import decode
from berth_shared.contracts.releases import ReconcileApp, reconcile_subject
from berth_shared.prompt_pulls import PromptPull
from berth_shared.settings import ServiceEnv
from berth_shared.streams import COMMANDS, agent_command_consumer
from berth_testing import eventually
from nats.aio.msg import Msg
from nats.js import JetStreamContext

pytestmark = pytest.mark.integration

TICK = 60.0  # the poll: a row published within PROMPT was not found by it
PROMPT = 5.0  # far below the tick, far above a commit's way to the agent on a loaded machine


@pytest.fixture
async def agent(infra: Any) -> AsyncIterator[tuple[PromptPull, str]]:
    """A fresh host's command consumer, pulled as that host's agent would."""
    host = f"ob{uuid.uuid4().hex[:8]}"
    env = ServiceEnv.from_env(infra.service_env("runtime-agent"))
    nc = await bus.connect(env.nats_url, env.nats_user, env.nats_password, name="test-as-agent")
    spec = agent_command_consumer(host)
    await bus.ensure_consumer(nc.jetstream(), spec)
    pull = await PromptPull.bind(nc.jetstream(), COMMANDS.name, spec.durable)
    try:
        yield pull, host
    finally:
        await pull.unsubscribe()
        await nc.close()


@contextlib.asynccontextmanager
async def publishing(publisher: OutboxPublisher) -> AsyncIterator[OutboxPublisher]:
    task = asyncio.create_task(publisher.run())
    try:
        yield publisher
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


Publisher = Callable[..., OutboxPublisher]


@pytest.fixture
def publisher(pool: asyncpg.Pool, api_js: JetStreamContext, infra: Any) -> Publisher:
    """An outbox publisher as the API runs it, polling every ``tick`` seconds."""

    def make(tick: float = TICK) -> OutboxPublisher:
        return OutboxPublisher(
            pool, api_js, lambda: asyncpg.connect(infra.service_database_url("api")), poll_seconds=tick
        )

    return make


async def received(pull: PromptPull) -> list[ReconcileApp]:
    """The commands the agent gets within PROMPT (acked)."""
    msgs: list[Msg] = await asyncio.wait_for(pull.fetch(16, PROMPT), PROMPT * 2)
    for msg in msgs:
        await msg.ack()
    return [decode(m.data, ReconcileApp) for m in msgs]


async def commit_command(pool: asyncpg.Pool, host: str, app_id: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, reconcile_subject(host), ReconcileApp(app_id=app_id))


async def test_a_committed_command_reaches_the_agent_without_waiting_for_the_tick(
    pool: asyncpg.Pool, publisher: Publisher, agent: tuple[PromptPull, str]
) -> None:
    pull, host = agent
    async with publishing(publisher()):
        for app_id in ("first", "second"):  # the second: after the publisher went back to waiting
            await commit_command(pool, host, app_id)
            assert [c.app_id for c in await received(pull)] == [app_id]


async def test_a_rolled_back_command_is_never_sent(
    pool: asyncpg.Pool, publisher: Publisher, agent: tuple[PromptPull, str]
) -> None:
    pull, host = agent
    async with publishing(publisher()):
        with contextlib.suppress(RuntimeError):
            async with pool.acquire() as conn, conn.transaction():
                await enqueue(conn, reconcile_subject(host), ReconcileApp(app_id="undone"))
                raise RuntimeError("the request failed after writing its command")
        await commit_command(pool, host, "done")
        assert [c.app_id for c in await received(pull)] == ["done"]


async def test_commands_left_by_a_crash_go_out_when_the_publisher_starts(
    pool: asyncpg.Pool, publisher: Publisher, agent: tuple[PromptPull, str]
) -> None:
    pull, host = agent
    await commit_command(pool, host, "left-behind")  # nobody listening: the API was down
    async with publishing(publisher()):
        assert [c.app_id for c in await received(pull)] == ["left-behind"]


async def test_a_command_committed_while_the_listening_connection_is_lost_still_goes_out(
    pool: asyncpg.Pool, publisher: Publisher, agent: tuple[PromptPull, str], infra: Any
) -> None:
    pull, host = agent
    async with publishing(publisher(tick=0.5)) as running:

        async def listening() -> asyncpg.Connection | None:
            return running._listener

        listener = await eventually(listening, within=PROMPT, what="the publisher listening")
        conn = await asyncpg.connect(infra.admin_database_url())
        try:
            await conn.execute("SELECT pg_terminate_backend($1)", listener.get_server_pid())
        finally:
            await conn.close()
        await commit_command(pool, host, "meanwhile")
        assert [c.app_id for c in await received(pull)] == ["meanwhile"]


async def test_a_release_timeline_records_when_its_command_was_published(
    pool: asyncpg.Pool, publisher: Publisher, agent: tuple[PromptPull, str], infra: Any
) -> None:
    pull, host = agent
    async with pool.acquire() as conn:
        app = await apps_store.create_app(
            conn, CreateApp(name=f"o{uuid.uuid4().hex[:10]}"), infra.settings.subnet_pool, "t"
        )
        _, release = await apps_store.create_release(conn, str(app["id"]), "img:1", "deploy", host)
    async with publishing(publisher()):
        (command,) = await received(pull)
    assert command.release_id == str(release["id"])

    async def recorded() -> asyncpg.Record | None:
        return await pool.fetchrow("SELECT * FROM release_steps WHERE release_id = $1", release["id"])

    step = await eventually(recorded, within=PROMPT, what="the command.published step")
    assert step["step"] == "command.published"
    assert release["created_at"] <= step["at"] and step["detail"].startswith("JetStream stored it: BERTH_CMD #")
