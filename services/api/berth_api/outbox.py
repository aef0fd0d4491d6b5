"""Transactional outbox: bus messages are written in the same transaction as the state they
announce, then published by one loop with ``Nats-Msg-Id`` = the message id (JetStream drops a
republish after a crash inside its duplicate window). Nothing is lost if the bus is down."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from berth_shared.contracts.base import Message, encode
from berth_shared.db import Connection
from nats.js import JetStreamContext

log = logging.getLogger("berth.api.outbox")


async def enqueue(conn: Connection, subject: str, message: Message) -> None:
    await conn.execute(
        "INSERT INTO outbox (subject, payload, msg_id) VALUES ($1, $2, $3)", subject, encode(message), message.id
    )


class OutboxPublisher:
    def __init__(self, pool: asyncpg.Pool, js: JetStreamContext) -> None:
        self.pool = pool
        self.js = js
        self.wakeup = asyncio.Event()

    def notify(self) -> None:
        self.wakeup.set()

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wakeup.wait(), timeout=1.0)
            self.wakeup.clear()
            try:
                while await self.publish_batch():
                    pass
            except Exception as exc:
                log.warning("outbox publish failed, will retry: %s", exc)
                await asyncio.sleep(0.5)

    async def publish_batch(self, limit: int = 100) -> int:
        rows = await self.pool.fetch("SELECT id, subject, payload, msg_id FROM outbox ORDER BY id LIMIT $1", limit)
        for row in rows:
            await self.js.publish(row["subject"], bytes(row["payload"]), headers={"Nats-Msg-Id": row["msg_id"]})
            await self.pool.execute("DELETE FROM outbox WHERE id = $1", row["id"])
        return len(rows)
