"""Lost app events are repaired from the API's state (ADR 0018): with the router, the logs
service and the health service stopped, an app is deleted and another created, and both events
are removed from the stream before anyone reads them. Started again, the services resync from
the API's app list: the deleted app's hostname is no longer routed and its log lines and check
history are gone; the new app is routed and, once deployed, health-checked."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import nats
import pytest
from berth_cli.launcher.platform import Platform
from berth_shared import bus
from berth_shared.contracts.apps import app_event_subject
from berth_shared.contracts.base import encode
from berth_shared.contracts.logs import LogBatch, LogLine, log_subject
from berth_shared.streams import EVENTS
from berth_testing import eventually
from nats.js import JetStreamContext
from observed_platform import observer

pytestmark = pytest.mark.e2e

RESYNCING = ("router", "logs", "health")


@pytest.fixture
async def observer_js(resync_platform: Platform) -> AsyncIterator[JetStreamContext]:
    async with observer(resync_platform) as js:
        yield js


async def proxy_get(platform: Platform, host: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.get(f"http://127.0.0.1:{platform.settings.http_port}/", headers={"Host": host})


def routed(platform: Platform, host: str, expect: Callable[[httpx.Response], bool]) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return expect(await proxy_get(platform, host))

    return probe


def unknown_host(r: httpx.Response) -> bool:
    return r.status_code == 404 and "No app here" in r.text


def app_without_release(name: str) -> Callable[[httpx.Response], bool]:
    return lambda r: r.status_code == 503 and f"{name} has no running release" in r.text


async def deploy_live(api: httpx.AsyncClient, name: str, image: str) -> None:
    release = (await api.post(f"/api/apps/{name}/deploy", json={"image": image})).json()

    async def live() -> bool:
        status = (await api.get(f"/api/apps/{name}/releases/{release['id']}")).json()["status"]
        assert status not in ("failed", "superseded"), status
        return bool(status == "live")

    await eventually(live, within=120, what=f"{name} live")


async def checked(api: httpx.AsyncClient, name: str) -> bool:
    health = (await api.get(f"/api/apps/{name}/health")).json()
    return bool(health["history"]["items"])


async def publish_lines(platform: Platform, app_id: str, count: int) -> None:
    """Lines as the runtime agent's collector publishes them (its identity and subject)."""
    nc = await bus.connect(
        platform.nats_url, "agent", platform.credentials.nats_passwords["runtime-agent"], name="test-collector"
    )
    try:
        at = datetime.now(UTC)
        lines = [
            LogLine(ts=(at + timedelta(microseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%f000Z"), message=f"line {i}")
            for i in range(count)
        ]
        batch = LogBatch(
            app_id=app_id, release_id="rel", slot="a", container_id=f"ctr-{app_id}", stream="stdout", lines=lines
        )
        await nc.jetstream().publish(log_subject(app_id, "stdout"), encode(batch))
    finally:
        await nc.close()


async def lose_event(js: JetStreamContext, subject: str) -> None:
    """Remove the event from the stream once the API's outbox has published it."""

    async def published() -> int:
        try:
            return int((await js.get_last_msg(EVENTS.name, subject)).seq)
        except nats.js.errors.NotFoundError:
            return 0

    seq = await eventually(published, within=60, what=f"{subject} published")
    await js.delete_msg(EVENTS.name, seq)


async def rows(platform: Platform, sql: str, app_id: str) -> int:
    conn = await asyncpg.connect(platform.admin_database_url())
    try:
        return int(await conn.fetchval(sql, app_id))
    finally:
        await conn.close()


async def stop_services(platform: Platform) -> None:
    for name in RESYNCING:
        await platform.supervisor.child(name).stop()


async def start_services(platform: Platform) -> None:
    for name in RESYNCING:
        child = platform.supervisor.child(name)
        child.stopping = False
        await child.start()


@pytest.mark.e2e
async def test_lost_app_events_are_repaired_from_the_apis_state(
    resync_platform: Platform, resync_api: httpx.AsyncClient, observer_js: JetStreamContext, test_images: dict[str, str]
) -> None:
    platform, api = resync_platform, resync_api
    domain = platform.settings.domain
    created = await api.post("/api/apps", json={"name": "doomed", "healthCheck": {"path": "/", "intervalSeconds": 1}})
    assert created.status_code == 201, created.text
    doomed = created.json()["id"]
    await deploy_live(api, "doomed", test_images["v1"])
    await eventually(routed(platform, f"doomed.{domain}", lambda r: r.text == "v1\n"), within=60, what="doomed served")
    await publish_lines(platform, doomed, 50)

    async def logged() -> bool:
        return len((await api.get(f"/api/apps/{doomed}/logs")).json()["items"]) == 50

    await eventually(logged, within=60, what="doomed's lines stored")
    await eventually(lambda: checked(api, "doomed"), within=60, what="doomed health-checked")

    await stop_services(platform)
    try:
        assert (await api.delete("/api/apps/doomed")).status_code == 202
        late = await api.post("/api/apps", json={"name": "late", "healthCheck": {"path": "/", "intervalSeconds": 1}})
        assert late.status_code == 201, late.text
        late_id = late.json()["id"]
        await lose_event(observer_js, app_event_subject("deleted", doomed))
        await lose_event(observer_js, app_event_subject("created", late_id))
    finally:
        await start_services(platform)

    # The deleted app: not routed, no log lines, no check history or target.
    await eventually(routed(platform, f"doomed.{domain}", unknown_host), within=90, what="doomed's route removed")

    async def data_gone() -> bool:
        lines = await rows(platform, "SELECT count(*) FROM logs.lines WHERE app_id = $1", doomed)
        checks = await rows(platform, "SELECT count(*) FROM health.checks WHERE app_id = $1", doomed)
        targets = await rows(platform, "SELECT count(*) FROM health.apps WHERE app_id = $1", doomed)
        return lines == checks == targets == 0

    await eventually(data_gone, within=90, what="doomed's log lines and health data deleted")

    # The new app: routed (no release yet), and health-checked once deployed.
    await eventually(routed(platform, f"late.{domain}", app_without_release("late")), within=90, what="late routed")
    await deploy_live(api, "late", test_images["v1"])
    await eventually(routed(platform, f"late.{domain}", lambda r: r.text == "v1\n"), within=60, what="late served")
    await eventually(lambda: checked(api, "late"), within=60, what="late health-checked")
