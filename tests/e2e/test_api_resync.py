"""The API repairs agent events it missed from the agent's state (ADR 0018): with the API's
consumer of the agent's events paused (nothing the agent reports reaches it, as when events are
lost), a deploy still goes live and the app reads ``running``, and a deleted app's row (and with
it its subnet) is forgotten once the agent has cleaned it up — within the resync interval."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import nats
import pytest
from berth_cli.launcher.platform import Platform
from berth_shared.streams import API_RELEASE_EVENTS
from berth_testing import eventually, isolated_settings, remove_instance_containers
from nats.js import JetStreamContext

pytestmark = pytest.mark.e2e

# Short enough for a test to see the periodic pass (the default is a minute).
RESYNC_SECONDS = "3"


@pytest.fixture(scope="module")
async def platform(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    home = Path(tmp_path_factory.mktemp("berth-api-resync"))
    p = Platform(isolated_settings(home, BERTH_RESYNC_SECONDS=RESYNC_SECONDS), observer=True)
    await p.start()
    try:
        yield p
    finally:
        await p.stop()
        remove_instance_containers(p.credentials.instance)


@pytest.fixture
async def api(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    base = f"http://127.0.0.1:{platform.settings.api_port}"
    headers = {"Authorization": f"Bearer {platform.admin_token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture
async def deaf_api(platform: Platform) -> AsyncIterator[JetStreamContext]:
    """The API's consumer of the agent's events paused for an hour: nothing reaches it."""
    url, user, password = platform.observer_nats()
    nc = await nats.connect(url, user=user, password=password)
    js = nc.jetstream()
    until = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    paused = await js.pause_consumer(API_RELEASE_EVENTS.stream, API_RELEASE_EVENTS.durable, until)
    assert paused.paused
    try:
        yield js
    finally:
        await js.resume_consumer(API_RELEASE_EVENTS.stream, API_RELEASE_EVENTS.durable)
        await nc.close()


async def app_rows(platform: Platform, app_id: str) -> int:
    conn = await asyncpg.connect(platform.admin_database_url())
    try:
        return int(await conn.fetchval("SELECT count(*) FROM api.apps WHERE id = $1", app_id))
    finally:
        await conn.close()


async def test_missed_agent_events_are_repaired_from_the_agents_state(
    platform: Platform, api: httpx.AsyncClient, deaf_api: JetStreamContext, test_images: dict[str, str]
) -> None:
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
