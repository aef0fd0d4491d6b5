"""The API repairs domain events it missed from the router's state (ADR 0018): with the API's
consumer of the router's domain events paused (nothing the router reports about a hostname
reaches it, as when events are lost), a ``*.test`` name attached to an app still reads
``issued`` once Caddy's internal CA has certified it — within the resync interval."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from berth_cli.launcher.platform import Platform
from berth_shared.streams import API_DOMAIN_EVENTS
from berth_testing import eventually
from observed_platform import paused_consumer

pytestmark = pytest.mark.e2e

HOSTNAME = "shop.unheard-domains.test"


@pytest.fixture
async def deaf_api(resync_platform: Platform) -> AsyncIterator[None]:
    """The API's consumer of the router's domain events paused for an hour: nothing reaches it."""
    async with paused_consumer(resync_platform, API_DOMAIN_EVENTS):
        yield


@pytest.mark.usefixtures("deaf_api")
async def test_a_missed_certificate_issuance_is_repaired_from_the_routers_state(resync_api: httpx.AsyncClient) -> None:
    api = resync_api
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
