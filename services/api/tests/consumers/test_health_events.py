"""The health service's transitions as a user reads them on the app: unhealthy with the reason,
running again, an automatic restart (a new release), and giving up; each applied once, none
while a release deploys (real Postgres)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from berth_api import apps_store
from berth_api.consumers import health_events, release_events
from berth_api.validation import CreateApp
from berth_shared.contracts.health import AppRecovered, AppUnhealthy, RestartRequested, RestartsExhausted
from berth_shared.contracts.releases import ReleaseLive

pytestmark = pytest.mark.integration


async def live_app(pool: asyncpg.Pool, infra: Any) -> tuple[str, str]:
    """An app whose first release is live: (app id, release id)."""
    async with pool.acquire() as conn:
        app = await apps_store.create_app(
            conn, CreateApp(name=f"he{uuid.uuid4().hex[:10]}"), infra.settings.subnet_pool, "test"
        )
        _, rel = await apps_store.create_release(conn, str(app["id"]), "img:1", "deploy", "local")
        await release_events.apply(conn, ReleaseLive(app_id=str(app["id"]), release_id=str(rel["id"]), slot="a"))
    return str(app["id"]), str(rel["id"])


async def apply(pool: asyncpg.Pool, event: Any) -> None:
    async with pool.acquire() as conn:
        await health_events.apply(conn, event, "local")


async def app_row(pool: asyncpg.Pool, app_id: str) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT * FROM apps WHERE id = $1", uuid.UUID(app_id))
    assert row is not None
    return row


async def test_unhealthy_then_recovered(pool: asyncpg.Pool, infra: Any) -> None:
    app_id, rel = await live_app(pool, infra)
    sick = AppUnhealthy(app_id=app_id, release_id=rel, slot="a", reason="HTTP 500", consecutive_failures=3)
    await apply(pool, sick)
    row = await app_row(pool, app_id)
    assert (row["status"], row["status_reason"]) == ("unhealthy", "health check failing: HTTP 500")

    await apply(pool, AppRecovered(app_id=app_id, release_id=rel, slot="a", unhealthy_seconds=4.0))
    await apply(pool, sick)  # redelivered after recovery: applied once, changes nothing
    row = await app_row(pool, app_id)
    assert (row["status"], row["status_reason"]) == ("running", None)
    kinds = await pool.fetch("SELECT kind FROM app_events WHERE app_id = $1 ORDER BY at", uuid.UUID(app_id))
    assert [k["kind"] for k in kinds] == ["health.unhealthy", "health.recovered"]


async def test_restart_creates_a_release_and_giving_up_says_so(pool: asyncpg.Pool, infra: Any) -> None:
    app_id, rel = await live_app(pool, infra)
    await apply(pool, AppUnhealthy(app_id=app_id, release_id=rel, reason="timeout"))
    restart = RestartRequested(app_id=app_id, release_id=rel, unhealthy_seconds=61, attempt=1, max_restarts=3)
    await apply(pool, restart)
    await apply(pool, restart)  # redelivered: one restart
    row = await app_row(pool, app_id)
    releases = await pool.fetch("SELECT kind FROM releases WHERE app_id = $1 ORDER BY version", uuid.UUID(app_id))
    assert [r["kind"] for r in releases] == ["deploy", "restart"]
    assert row["status"] == "deploying"

    # While a release deploys, health transitions leave the status alone.
    await apply(pool, AppUnhealthy(app_id=app_id, release_id=rel, reason="still failing"))
    assert (await app_row(pool, app_id))["status"] == "deploying"


async def test_gave_up_reason_outlasts_later_failures(pool: asyncpg.Pool, infra: Any) -> None:
    app_id, rel = await live_app(pool, infra)
    await apply(pool, AppUnhealthy(app_id=app_id, release_id=rel, reason="timeout"))
    await apply(pool, RestartsExhausted(app_id=app_id, release_id=rel, restarts=3, unhealthy_seconds=180))
    await apply(pool, AppUnhealthy(app_id=app_id, release_id=rel, reason="HTTP 502", new_episode=False))
    row = await app_row(pool, app_id)
    assert row["status"] == "unhealthy"
    assert row["status_reason"].startswith("unhealthy for 180s after 3 automatic restart(s)")
