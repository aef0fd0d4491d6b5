"""Deleting an app deletes its health checks and only its checks, however often the event arrives."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from berth_cli.launcher.platform import Platform
from berth_health.migrations import MIGRATIONS
from berth_health.service import CONSUMERS, main
from berth_shared.contracts.apps import AppDeleted, app_event_subject
from berth_shared.contracts.base import encode
from berth_shared.service import ServiceContext, close_context, open_context
from berth_shared.settings import ServiceEnv, Settings
from berth_shared.streams import HEALTH_APP_DELETED
from berth_testing import eventually
from nats.js import JetStreamContext


@pytest.fixture(scope="module")
async def health(infra: Platform) -> AsyncIterator[ServiceContext]:
    env = infra.service_env("health")
    ctx = await open_context(
        "health", MIGRATIONS, CONSUMERS, env=ServiceEnv.from_env(env), settings=Settings.from_env(env)
    )
    task = asyncio.create_task(main(ctx))
    try:
        yield ctx
    finally:
        ctx.stop.set()
        await asyncio.wait_for(task, timeout=10)
        await close_context(ctx)


async def insert_checks(pool: asyncpg.Pool, app_id: str, count: int) -> None:
    now = datetime.now(UTC)
    await pool.executemany(
        "INSERT INTO checks (app_id, release_id, slot, ts, status_code, error, latency_ms)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            (app_id, "rel1", "a", now, 200 if i % 2 else None, None if i % 2 else "connection refused", 12)
            for i in range(count)
        ],
    )


async def checks_of(pool: asyncpg.Pool, app_id: str) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM checks WHERE app_id = $1", app_id))


async def publish_deleted(js: JetStreamContext, app_id: str) -> int:
    event = AppDeleted(app_id=app_id, name="gone", hostname="gone.berth.test", subnet="10.240.0.16/28")
    ack = await js.publish(app_event_subject("deleted", app_id), encode(event))
    return int(ack.seq)


async def acked_through(ctx: ServiceContext, seq: int) -> bool:
    info = await ctx.js.consumer_info(HEALTH_APP_DELETED.stream, HEALTH_APP_DELETED.durable)
    return info.ack_floor.stream_seq >= seq and info.num_ack_pending == 0


@pytest.mark.integration
async def test_app_deleted_removes_that_apps_checks_and_keeps_the_others(
    health: ServiceContext, api_js: JetStreamContext
) -> None:
    gone, kept = f"app-{uuid.uuid4().hex[:8]}", f"app-{uuid.uuid4().hex[:8]}"
    await insert_checks(health.pool, gone, 5)
    await insert_checks(health.pool, kept, 3)

    await publish_deleted(api_js, gone)

    async def gone_checks_deleted() -> bool:
        return await checks_of(health.pool, gone) == 0

    await eventually(gone_checks_deleted, what="the deleted app's checks to go")
    assert await checks_of(health.pool, kept) == 3

    seq = await publish_deleted(api_js, gone)
    await eventually(lambda: acked_through(health, seq), what="the duplicate to be handled")
    assert await checks_of(health.pool, gone) == 0
    assert await checks_of(health.pool, kept) == 3

    await health.pool.execute("DELETE FROM checks WHERE app_id = $1", kept)
