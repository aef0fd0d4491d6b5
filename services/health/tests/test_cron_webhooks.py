"""The API's cron events reach the webhooks through the health service's own consumer
(``health-cron-events``) under the real NATS permissions: the API publishes a CronRunFailed
through the bus as its own user, the running service delivers ``cron.failed`` signed, once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from berth_cli.launcher.platform import Platform
from berth_health.migrations import MIGRATIONS
from berth_health.service import CONSUMERS, main
from berth_health.webhooks import Webhooks
from berth_shared.contracts.base import encode
from berth_shared.contracts.cron import CronRunFailed, CronRunMissed, cron_event_subject
from berth_shared.contracts.health import CreateWebhook
from berth_shared.service import ServiceContext, close_context, open_context
from berth_shared.settings import ServiceEnv, Settings
from berth_shared.streams import HEALTH_CRON_EVENTS
from berth_shared.webhook_targets import TargetPolicy
from berth_testing import eventually
from nats.js import JetStreamContext

pytestmark = pytest.mark.integration


class Receiver:
    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.port = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> Receiver:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            lines = head.split("\r\n")[1:]
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
            self.posts.append((headers, await reader.readexactly(int(headers.get("content-length", "0")))))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        finally:
            writer.close()


async def _sent(receiver: Receiver) -> bool:
    return len(receiver.posts) >= 1


@pytest.fixture
async def health(infra: Platform) -> AsyncIterator[tuple[ServiceContext, Webhooks]]:
    env = infra.service_env("health")
    ctx = await open_context(
        "health", MIGRATIONS, CONSUMERS, env=ServiceEnv.from_env(env), settings=Settings.from_env(env)
    )
    webhooks = Webhooks(ctx.pool, policy=TargetPolicy(allow_private=True), retry_base=0.05)
    await ctx.pool.execute("DELETE FROM webhooks")  # deliveries go to every subscribed webhook: only ours
    task = asyncio.create_task(main(ctx, webhooks=webhooks))
    try:
        yield ctx, webhooks
    finally:
        ctx.stop.set()
        await asyncio.wait_for(task, timeout=10)
        await ctx.pool.execute("DELETE FROM webhooks")
        await close_context(ctx)


async def test_a_failed_cron_run_is_delivered_as_cron_failed_and_a_missed_one_only_to_its_subscribers(
    health: tuple[ServiceContext, Webhooks], api_js: JetStreamContext
) -> None:
    ctx, webhooks = health
    receiver = await Receiver().start()
    try:
        info = await webhooks.create(
            encode(CreateWebhook(url=f"http://127.0.0.1:{receiver.port}/hook", events=["cron.failed"]))
        )
        app_id = uuid.uuid4().hex
        failed = CronRunFailed(
            app_id=app_id, job="nightly", run_id="run-1", outcome="exited", exit_code=2, reason="exited with code 2"
        )
        missed = CronRunMissed(app_id=app_id, job="nightly", first_due_at=failed.at, last_due_at=failed.at)
        await api_js.publish(cron_event_subject("missed", app_id), encode(missed))  # not subscribed to
        for _ in range(2):  # redelivered (an outbox publishes at least once): still one delivery
            ack = await api_js.publish(cron_event_subject("failed", app_id), encode(failed))

        async def handled() -> bool:
            info = await ctx.js.consumer_info(HEALTH_CRON_EVENTS.stream, HEALTH_CRON_EVENTS.durable)
            return info.ack_floor.stream_seq >= ack.seq and info.num_ack_pending == 0

        await eventually(handled, what="the cron events handled")
        await eventually(lambda: _sent(receiver), what="the cron.failed webhook")
        rows = await ctx.pool.fetch("SELECT event FROM deliveries WHERE app_id = $1", app_id)
        assert [r["event"] for r in rows] == ["cron.failed"]
        headers, body = receiver.posts[0]
        expected = "sha256=" + hmac.new(info.secret.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-berth-signature"], expected)
        payload = json.loads(body)
        assert payload["event"] == "cron.failed" and payload["app"]["id"] == app_id
        assert (payload["job"], payload["runId"], payload["exitCode"]) == ("nightly", "run-1", 2)
        assert len(receiver.posts) == 1
    finally:
        if receiver.server is not None:
            receiver.server.close()
