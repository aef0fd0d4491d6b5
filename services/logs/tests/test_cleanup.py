"""Deleting an app deletes its log lines (and their search chunks) and only its lines, however
often the event arrives, and a resync deletes the data of every app the API no longer lists."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from berth_cli.launcher.platform import Platform
from berth_logs import ingest
from berth_logs.cleanup import app_lines_cleanup, delete_app_lines, held_apps
from berth_logs.migrations import MIGRATIONS
from berth_logs.service import CONSUMERS, main
from berth_shared.contracts.apps import AppDeleted, app_event_subject
from berth_shared.contracts.base import encode
from berth_shared.contracts.owner_state import AppFacts
from berth_shared.service import ServiceContext, close_context, open_context
from berth_shared.settings import ServiceEnv, Settings
from berth_shared.streams import LOGS_APP_DELETED
from berth_testing import eventually
from log_pages import rows_of_app
from nats.js import JetStreamContext


@pytest.fixture(scope="module")
async def logs(infra: Platform) -> AsyncIterator[ServiceContext]:
    env = infra.service_env("logs")
    ctx = await open_context(
        "logs", MIGRATIONS, CONSUMERS, env=ServiceEnv.from_env(env), settings=Settings.from_env(env)
    )
    task = asyncio.create_task(main(ctx))
    try:
        yield ctx
    finally:
        ctx.stop.set()
        await asyncio.wait_for(task, timeout=10)
        await close_context(ctx)


async def insert_lines(pool: asyncpg.Pool, app_id: str, count: int) -> None:
    now = datetime.now(UTC)
    origin = await pool.fetchval(
        "INSERT INTO origins (app_id, release_id, slot, container_id, stream) VALUES ($1, 'rel1', 'a', $2, 'stdout') "
        "RETURNING id",
        app_id,
        f"c-{app_id}",
    )
    await pool.executemany(
        "INSERT INTO lines (app_id, origin, ts, ts_raw, seq, message) VALUES ($1, $2, $3, $4, $5, $6)",
        [(app_id, origin, now, now.isoformat(), i, f"line {i}") for i in range(count)],
    )


async def lines_of(pool: asyncpg.Pool, app_id: str) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM lines WHERE app_id = $1", app_id))


async def publish_deleted(js: JetStreamContext, app_id: str) -> int:
    event = AppDeleted(app_id=app_id, name="gone", hostname="gone.berth.test", subnet="10.240.0.16/28")
    ack = await js.publish(app_event_subject("deleted", app_id), encode(event))
    return int(ack.seq)


async def acked_through(ctx: ServiceContext, seq: int) -> bool:
    info = await ctx.js.consumer_info(LOGS_APP_DELETED.stream, LOGS_APP_DELETED.durable)
    return info.ack_floor.stream_seq >= seq and info.num_ack_pending == 0


@pytest.mark.integration
async def test_app_deleted_removes_that_apps_lines_and_keeps_the_others(
    logs: ServiceContext, api_js: JetStreamContext
) -> None:
    gone, kept = f"app-{uuid.uuid4().hex[:8]}", f"app-{uuid.uuid4().hex[:8]}"
    async with logs.pool.acquire() as conn:  # as the ingester stores them, with the search index's chunks
        await ingest.store(
            conn, rows_of_app(gone, [f"line {i}" for i in range(5)]) + rows_of_app(kept, ["a", "b", "c"])
        )

    await publish_deleted(api_js, gone)

    async def gone_lines_deleted() -> bool:
        return await lines_of(logs.pool, gone) == 0

    await eventually(gone_lines_deleted, what="the deleted app's lines to go")
    assert await lines_of(logs.pool, kept) == 3
    for table, left in (("chunks", (0, 1)), ("origins", (0, 1))):
        count = f"SELECT count(*) FROM {table} WHERE app_id = $1"
        assert (await logs.pool.fetchval(count, gone), await logs.pool.fetchval(count, kept)) == left, table

    seq = await publish_deleted(api_js, gone)
    await eventually(lambda: acked_through(logs, seq), what="the duplicate to be handled")
    assert await lines_of(logs.pool, gone) == 0
    assert await lines_of(logs.pool, kept) == 3

    await logs.pool.execute("DELETE FROM lines WHERE app_id = $1", kept)


@pytest.mark.integration
async def test_a_resync_deletes_the_data_of_apps_the_api_no_longer_lists(logs: ServiceContext) -> None:
    gone, configured, kept, deleted = (f"app-{uuid.uuid4().hex[:8]}" for _ in range(4))
    await insert_lines(logs.pool, gone, 4)
    await insert_lines(logs.pool, kept, 2)
    await logs.pool.execute("INSERT INTO retention (app_id, max_lines) VALUES ($1, 100)", configured)
    await delete_app_lines(logs.pool, deleted)
    await insert_lines(logs.pool, deleted, 1)  # a late batch of a deleted app: not held

    held = await held_apps(logs.pool)
    assert {gone, configured, kept} <= held
    assert deleted not in held

    listed = [
        AppFacts(app_id=app_id, name="web", hostname="web.berth.test", port=8080, subnet="10.240.0.16/28")
        for app_id in held - {gone, configured}
    ]
    assert await app_lines_cleanup(logs.pool).delete_stale(held, listed) == tuple(sorted((gone, configured)))
    assert await lines_of(logs.pool, gone) == 0
    assert await lines_of(logs.pool, kept) == 2
    assert not {gone, configured} & await held_apps(logs.pool)

    await logs.pool.execute("DELETE FROM lines WHERE app_id = ANY($1::text[])", [kept, deleted])


@pytest.mark.integration
async def test_deleting_an_app_while_its_lines_are_inserted_waits_for_the_insert(logs: ServiceContext) -> None:
    """The insert takes the chunks' lock, then the app's retention and counters rows; the delete
    waits for the lock before touching those rows, so neither deadlocks and nothing is left."""
    app = f"app-{uuid.uuid4().hex[:8]}"
    async with logs.pool.acquire() as conn:
        await ingest.store(conn, rows_of_app(app, ["before"]))
    async with logs.pool.acquire() as inserting, inserting.transaction():
        await inserting.execute("LOCK TABLE chunks IN SHARE ROW EXCLUSIVE MODE")  # as ingest.store_insert
        deleting = asyncio.create_task(delete_app_lines(logs.pool, app))

        async def delete_waits() -> bool:
            waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'DELETE%'"
            return bool(await logs.pool.fetchval(waiting))

        await eventually(delete_waits, what="the delete to wait for the insert")
        await ingest.store(inserting, rows_of_app(app, ["during"], 1))  # its retention and counters rows
    assert await asyncio.wait_for(deleting, timeout=10) == 2
    assert await lines_of(logs.pool, app) == 0
