"""The API repairs agent events it missed from the agent's state (ADR 0018): with the API's
consumer of the agent's events paused (nothing the agent reports reaches it, as when events are
lost), a deploy still goes live and the app reads ``running``, and a deleted app's row (and with
it its subnet) is forgotten once the agent has cleaned it up — within the resync interval."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from berth_cli.launcher.platform import Platform
from berth_shared.streams import API_RELEASE_EVENTS
from berth_testing import eventually
from nats.js import JetStreamContext
from observed_platform import paused_consumer

pytestmark = pytest.mark.e2e


@pytest.fixture
async def deaf_api(resync_platform: Platform) -> AsyncIterator[JetStreamContext]:
    """The API's consumer of the agent's events paused for an hour: nothing reaches it."""
    async with paused_consumer(resync_platform, API_RELEASE_EVENTS) as js:
        yield js


async def app_rows(platform: Platform, app_id: str) -> int:
    conn = await asyncpg.connect(platform.admin_database_url())
    try:
        return int(await conn.fetchval("SELECT count(*) FROM api.apps WHERE id = $1", app_id))
    finally:
        await conn.close()


async def test_missed_agent_events_are_repaired_from_the_agents_state(
    resync_platform: Platform, resync_api: httpx.AsyncClient, deaf_api: JetStreamContext, test_images: dict[str, str]
) -> None:
    platform, api = resync_platform, resync_api
    created = await api.post("/api/apps", json={"name": "unheard"})
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    release = (await api.post("/api/apps/unheard/deploy", json={"image": test_images["v1"]})).json()

    async def live_and_running() -> bool:
        status = (await api.get(f"/api/apps/unheard/releases/{release['id']}")).json()["status"]
        assert status not in ("failed", "superseded"), status
        app = (await api.get("/api/apps/unheard")).json()
        return bool(status == "live" and app["status"] == "running")

    await eventually(live_and_running, within=180, what="the release live and the app running without its events")
    served = (await api.get(f"/api/apps/unheard/releases/{release['id']}")).json()
    assert served["slot"] in ("a", "b")

    assert (await api.delete("/api/apps/unheard")).status_code == 202

    async def forgotten() -> bool:
        return await app_rows(platform, app_id) == 0

    await eventually(forgotten, within=120, what="the deleted app's row (and subnet) forgotten without AppCleanedUp")
