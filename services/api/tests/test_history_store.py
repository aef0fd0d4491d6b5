"""An app's history: each event is one entry however often it is delivered, entries of apps that
do not exist are dropped, and the history reads its newest entries oldest first (real Postgres)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from berth_api import apps_store, history_store
from berth_api.history_store import HistoryEntry
from berth_api.validation import CreateApp

pytestmark = pytest.mark.integration

T0 = datetime(2030, 1, 1, tzinfo=UTC)


async def new_app(pool: asyncpg.Pool, infra: Any) -> asyncpg.Record:
    async with pool.acquire() as conn:
        return await apps_store.create_app(
            conn, CreateApp(name=f"h{uuid.uuid4().hex[:10]}"), infra.settings.subnet_pool, "test"
        )


def entry(app_id: object, seconds: int, kind: str = "container.started", release: str | None = None) -> HistoryEntry:
    return HistoryEntry(uuid.uuid4().hex, str(app_id), release, kind, {"n": seconds}, T0 + timedelta(seconds=seconds))


async def test_an_event_is_one_entry_however_often_it_comes(pool: asyncpg.Pool, infra: Any) -> None:
    app = await new_app(pool, infra)
    once = entry(app["id"], 1)
    async with pool.acquire() as conn:
        assert await history_store.record(conn, once) is True
        assert await history_store.record(conn, once) is False  # redelivered
        assert await history_store.record(conn, entry(uuid.uuid4(), 2)) is False  # no such app
        assert await history_store.record(conn, entry("not-an-id", 3)) is False
    assert [r["event_id"] for r in await history_store.recent(pool, app["id"], 10)] == [once.event_id]


async def test_the_newest_entries_read_oldest_first(pool: asyncpg.Pool, infra: Any) -> None:
    app = await new_app(pool, infra)
    async with pool.acquire() as conn:
        for seconds in (5, 1, 4, 2, 3):
            await history_store.record(conn, entry(app["id"], seconds, release="not-a-release-id"))
    rows = await history_store.recent(pool, app["id"], 3)
    assert [r["detail"] for r in rows] in ([{"n": 3}, {"n": 4}, {"n": 5}], ['{"n": 3}', '{"n": 4}', '{"n": 5}'])
    assert {r["release_id"] for r in rows} == {None}
