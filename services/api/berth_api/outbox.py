"""Transactional outbox: bus messages are written in the same transaction as the state they
announce, then published by one loop with ``Nats-Msg-Id`` = the message id (JetStream drops a
republish after a crash inside its duplicate window). Nothing is lost if the bus is down.

The publisher is woken the moment a transaction that wrote a row commits: ``enqueue`` sends a
Postgres notification, which Postgres delivers at commit (and drops on rollback) to the
publisher's listening connection, whichever code path or process wrote the row (ADR 0023). A
poll every :data:`POLL_SECONDS` stays as the safety net: rows left by a crash, or written
while the listening connection was down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
from berth_shared.contracts.base import Message, encode
from berth_shared.contracts.releases import COMMAND_PUBLISHED
from berth_shared.db import Connection
from nats.js import JetStreamContext

log = logging.getLogger("berth.api.outbox")

CHANNEL = "berth_outbox"
POLL_SECONDS = 5.0

# The row and the notification in one round trip; the notification leaves at commit.
_ENQUEUE = (
    "WITH queued AS (INSERT INTO outbox (subject, payload, msg_id, release_id) VALUES ($1, $2, $3, $4) RETURNING id) "
    f"SELECT pg_notify('{CHANNEL}', '') FROM queued"
)

# A published row goes, and the release it was sent for (if it still exists) records the hop.
_PUBLISHED = (
    "WITH sent AS (DELETE FROM outbox WHERE id = $1 RETURNING msg_id, release_id, created_at) "
    "INSERT INTO release_steps (event_id, release_id, step, detail, duration_ms, at) "
    "SELECT sent.msg_id || ':published', sent.release_id, $2, $3, "
    "greatest(0, round(extract(epoch FROM $4::timestamptz - sent.created_at) * 1000))::int, $4 "
    "FROM sent JOIN releases ON releases.id = sent.release_id "
    "ON CONFLICT (event_id) DO NOTHING"
)


async def enqueue(conn: Connection, subject: str, message: Message, *, release_id: uuid.UUID | None = None) -> None:
    """Write ``message`` to the outbox in the caller's transaction; ``release_id``: the release
    whose timeline records when it is published."""
    await conn.execute(_ENQUEUE, subject, encode(message), message.id, release_id)


Connect = Callable[[], Awaitable[asyncpg.Connection]]


class OutboxPublisher:
    def __init__(
        self, pool: asyncpg.Pool, js: JetStreamContext, listen: Connect, *, poll_seconds: float = POLL_SECONDS
    ) -> None:
        self.pool = pool
        self.js = js
        self.listen = listen
        self.poll_seconds = poll_seconds
        self.wakeup = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._unheard = False  # the listening connection failed and was reported

    async def run(self) -> None:
        try:
            while True:
                await self._listening()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), timeout=self.poll_seconds)
                self.wakeup.clear()
                try:
                    while await self.publish_batch():
                        pass
                except Exception as exc:
                    log.warning("outbox publish failed, will retry: %s", exc)
                    await asyncio.sleep(0.5)
        finally:
            if self._listener is not None:
                with contextlib.suppress(Exception):
                    await self._listener.close()

    async def _listening(self) -> None:
        """Keep a connection listening for commits; once (re)opened, publish what was written
        meanwhile (and at start, what a crash left)."""
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            listener = await self.listen()
            await listener.add_listener(CHANNEL, self._on_commit)
        except Exception as exc:
            if not self._unheard:
                log.warning("outbox: cannot listen for commits (%s); publishing every %.0fs", exc, self.poll_seconds)
            self._unheard = True
            return
        self._listener, self._unheard = listener, False
        self.wakeup.set()

    def _on_commit(self, *_: object) -> None:
        self.wakeup.set()

    async def publish_batch(self, limit: int = 100) -> int:
        rows = await self.pool.fetch("SELECT id, subject, payload, msg_id FROM outbox ORDER BY id LIMIT $1", limit)
        for row in rows:
            sent_at = datetime.now(UTC)  # before the agent can have it: the timeline keeps its order
            ack = await self.js.publish(row["subject"], bytes(row["payload"]), headers={"Nats-Msg-Id": row["msg_id"]})
            detail = f"JetStream stored it: {ack.stream} #{ack.seq}" + (" (a republish)" if ack.duplicate else "")
            await self.pool.execute(_PUBLISHED, row["id"], COMMAND_PUBLISHED, detail, sent_at)
        return len(rows)
