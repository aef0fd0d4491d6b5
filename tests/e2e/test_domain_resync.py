"""The API repairs domain events it missed from the router's state (ADR 0018): with the API's
consumer of the router's domain events paused (nothing the router reports about a hostname
reaches it, as when events are lost), a ``*.test`` name attached to an app still reads
``issued`` once Caddy's internal CA has certified it — within the resync interval."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import nats
import pytest
from berth_cli.launcher.platform import Platform
from berth_shared.streams import API_DOMAIN_EVENTS
from berth_testing import eventually, isolated_settings, remove_instance_containers

pytestmark = pytest.mark.e2e

# Short enough for a test to see the periodic pass (the default is a minute).
RESYNC_SECONDS = "3"
HOSTNAME = "shop.unheard-domains.test"


@pytest.fixture(scope="module")
async def platform(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    home = Path(tmp_path_factory.mktemp("berth-domain-resync"))
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
async def deaf_api(platform: Platform) -> AsyncIterator[None]:
    """The API's consumer of the router's domain events paused for an hour: nothing reaches it."""
    url, user, password = platform.observer_nats()
    nc = await nats.connect(url, user=user, password=password)
    js = nc.jetstream()
    until = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    paused = await js.pause_consumer(API_DOMAIN_EVENTS.stream, API_DOMAIN_EVENTS.durable, until)
    assert paused.paused
    try:
        yield
    finally:
        await js.resume_consumer(API_DOMAIN_EVENTS.stream, API_DOMAIN_EVENTS.durable)
        await nc.close()


@pytest.mark.usefixtures("deaf_api")
async def test_a_missed_certificate_issuance_is_repaired_from_the_routers_state(api: httpx.AsyncClient) -> None:
    assert (await api.post("/api/apps", json={"name": "unheard-domains"})).status_code == 201
    attached = await api.post("/api/apps/unheard-domains/domains", json={"hostname": HOSTNAME})
    assert attached.status_code == 201, attached.text

    async def issued() -> bool:
        (domain,) = (await api.get("/api/apps/unheard-domains/domains")).json()["items"]
        assert domain["hostname"] == HOSTNAME
        return bool(domain["tlsStatus"] == "issued")

    await eventually(issued, within=180, what="tlsStatus issued without the router's domain events")

    # The app's history tells it once, as the event would have.
    history = (await api.get("/api/apps/unheard-domains/events")).json()["items"]
    assert [e["detail"]["hostname"] for e in history if e["kind"] == "domain.issued"] == [HOSTNAME], history
