"""Webhook deliveries against the health service's real Postgres schema and a local receiver:
a failing receiver is retried with backoff and given up on after 6 attempts (the documented
default), a receiver that comes back gets the alert once, signed; pending deliveries survive a
restart of the service (a new Webhooks over the same database) and are delivered then."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from berth_cli.launcher.platform import Platform
from berth_health import webhooks as webhooks_module
from berth_health.migrations import MIGRATIONS
from berth_health.webhooks import Webhooks
from berth_shared import db
from berth_shared.contracts.base import encode
from berth_shared.contracts.health import CreateWebhook
from berth_shared.settings import ServiceEnv
from berth_shared.webhook_targets import TargetPolicy
from berth_testing import eventually, free_port

pytestmark = pytest.mark.integration

LOCAL = TargetPolicy(allow_private=True)  # the receiver is on 127.0.0.1


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 answering ``statuses`` in turn (then the last one)."""

    statuses: list[int]
    port: int = 0
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> Receiver:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            lines = head.split("\r\n")[1:]
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.posts.append((headers, body))
            status = self.statuses[min(len(self.posts), len(self.statuses)) - 1]
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def pool(infra: Platform) -> AsyncIterator[asyncpg.Pool]:
    env = ServiceEnv.from_env(infra.service_env("health"))
    assert env.database_url is not None
    pool = await db.create_pool(env.database_url, "health", max_size=4)
    await db.migrate(pool, "health", MIGRATIONS)
    await pool.execute("DELETE FROM webhooks")  # deliveries go to every subscribed webhook: only ours
    try:
        yield pool
    finally:
        await pool.execute("DELETE FROM webhooks")
        await pool.close()


@dataclass
class Running:
    webhooks: Webhooks
    stop: asyncio.Event
    task: asyncio.Task[None]

    async def halt(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 30)


def start(pool: asyncpg.Pool, **options: float) -> Running:
    webhooks = Webhooks(pool, policy=LOCAL, **options)  # type: ignore[arg-type]
    stop = asyncio.Event()
    return Running(webhooks, stop, asyncio.create_task(webhooks.run(stop)))


async def subscribe(webhooks: Webhooks, url: str) -> tuple[str, str]:
    info = await webhooks.create(encode(CreateWebhook(url=url, events=["health.unhealthy"])))
    assert info.secret
    return info.webhook_id, info.secret


async def alert(webhooks: Webhooks) -> str:
    app_id = uuid.uuid4().hex
    sick = {"reason": "GET /: HTTP 500, expected 2xx/3xx", "consecutiveFailures": 3}
    assert await webhooks.enqueue(uuid.uuid4().hex, "health.unhealthy", app_id, sick, datetime.now(UTC)) == 1
    return app_id


async def delivery(pool: asyncpg.Pool, webhook_id: str) -> asyncpg.Record:
    (row,) = await pool.fetch("SELECT * FROM deliveries WHERE webhook_id = $1", uuid.UUID(webhook_id))
    return row


def signed(secret: str, headers: dict[str, str], body: bytes) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["x-berth-signature"], expected)


async def test_a_failing_receiver_is_retried_and_given_up_on_after_six_attempts(pool: asyncpg.Pool) -> None:
    assert webhooks_module.MAX_ATTEMPTS == 6  # the documented default
    receiver = await Receiver([500]).start()
    running = start(pool, retry_base=0.02)
    try:
        webhook_id, secret = await subscribe(running.webhooks, receiver.url)
        await alert(running.webhooks)
        row = await eventually(lambda: _failed(pool, webhook_id), within=120)
    finally:
        await running.halt()
        await receiver.close()
    assert (row["attempts"], row["last_status_code"], row["last_error"]) == (6, 500, "HTTP 500")
    assert len(receiver.posts) == 6
    # Every attempt is the same delivery with the same signed body.
    assert len({headers["x-berth-delivery"] for headers, _ in receiver.posts}) == 1
    assert len({body for _, body in receiver.posts}) == 1
    assert all(signed(secret, headers, body) for headers, body in receiver.posts)

    # Given up: later delivery rounds leave it alone.
    async with httpx.AsyncClient() as http:
        assert await Webhooks(pool, policy=LOCAL, retry_base=0.02).deliver_due(http) == 0
    assert len(receiver.posts) == 6 and (await delivery(pool, webhook_id))["status"] == "failed"


async def _failed(pool: asyncpg.Pool, webhook_id: str) -> asyncpg.Record | None:
    row = await delivery(pool, webhook_id)
    return row if row["status"] == "failed" else None


async def _delivered(pool: asyncpg.Pool, webhook_id: str) -> asyncpg.Record | None:
    row = await delivery(pool, webhook_id)
    return row if row["status"] == "delivered" else None


async def test_a_receiver_that_recovers_gets_the_alert_once_after_retries(pool: asyncpg.Pool) -> None:
    receiver = await Receiver([500, 503, 200]).start()
    running = start(pool, retry_base=0.02)
    try:
        webhook_id, secret = await subscribe(running.webhooks, receiver.url)
        await alert(running.webhooks)
        row = await eventually(lambda: _delivered(pool, webhook_id), within=120)
    finally:
        await running.halt()
        await receiver.close()
    assert (row["attempts"], row["last_status_code"], row["last_error"]) == (3, 200, None)
    assert len(receiver.posts) == 3 and all(signed(secret, h, b) for h, b in receiver.posts)


async def test_pending_deliveries_resume_after_a_restart(pool: asyncpg.Pool) -> None:
    port = free_port()  # nothing listens yet: the first attempts are refused
    first = start(pool, retry_base=0.05)
    webhook_id, secret = await subscribe(first.webhooks, f"http://127.0.0.1:{port}/hook")
    await alert(first.webhooks)

    async def tried() -> asyncpg.Record | None:
        row = await delivery(pool, webhook_id)
        return row if row["attempts"] >= 1 else None

    row = await eventually(tried, within=60)
    await first.halt()  # the health service stops with the delivery still owed
    row = await delivery(pool, webhook_id)
    assert row["status"] == "pending" and row["last_status_code"] is None and row["last_error"]

    # It comes back (a new Webhooks over the same database), and so does the receiver.
    receiver = await Receiver([200]).start(port)
    second = start(pool, retry_base=0.05)
    try:
        delivered = await eventually(lambda: _delivered(pool, webhook_id), within=120)
    finally:
        await second.halt()
        await receiver.close()
    assert delivered["attempts"] == row["attempts"] + 1
    assert len(receiver.posts) == 1 and signed(secret, *receiver.posts[0])
    assert receiver.posts[0][0]["x-berth-delivery"] == str(row["id"])
