"""The router in-process against real Postgres, NATS and Caddy, with a real app container.

App events are published with the API's own bus credentials, as the API would; requests go
through Caddy on 127.0.0.1:<http_port> with the app's Host header.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypeVar

import httpx
import nats
import pytest
from berth_cli.launcher import caddy as caddy_launcher
from berth_cli.launcher.platform import Platform
from berth_router.migrations import MIGRATIONS
from berth_router.router import Router
from berth_router.service import serve
from berth_shared import bus
from berth_shared.contracts.apps import AppCreated, AppDeleted, AppUpdated, app_event_subject
from berth_shared.contracts.base import decode, encode
from berth_shared.contracts.logs import LogBatch, log_subject
from berth_shared.contracts.slots import (
    SLOT_SWITCH,
    ServingSlot,
    ServingSlots,
    SlotSwitched,
    SwitchSlot,
    serving_slots_subject,
)
from berth_shared.netplan import Slot, slot_address
from berth_shared.proxy_timing import UPSTREAM_REFRESH_SECONDS
from berth_shared.service import ServiceContext, close_context, open_context
from berth_shared.settings import ServiceEnv, Settings
from berth_shared.streams import ROUTER_APP_EVENTS
from berth_testing import eventually
from nats.aio.msg import Msg
from nats.js import JetStreamContext

pytestmark = pytest.mark.integration

T = TypeVar("T")


async def sh(*argv: str, check: bool = True) -> str:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {err.decode().strip()}")
    return out.decode().strip()


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def router(infra: Platform) -> AsyncIterator[tuple[Router, ServiceContext]]:
    env = infra.service_env("router")
    ctx = await open_context(
        "router", MIGRATIONS, [ROUTER_APP_EVENTS], env=ServiceEnv.from_env(env), settings=Settings.from_env(env)
    )
    router = Router.from_context(ctx)
    task = asyncio.create_task(serve(router, ctx))

    async def first_pass_done() -> bool:
        return router.sync.passes > 0

    try:
        await eventually(first_pass_done, what="the router's first sync with Caddy")
        yield router, ctx
    finally:
        ctx.stop.set()
        await asyncio.wait_for(task, timeout=10)
        await close_context(ctx)


@pytest.fixture
async def caddy(infra: Platform) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.AsyncHTTPTransport(uds=str(infra.settings.caddy_admin_socket))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        yield client


@pytest.fixture
async def web(infra: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{infra.settings.http_port}", timeout=15) as client:
        yield client


@dataclass
class SampleApp:
    app_id: str
    name: str
    hostname: str
    subnet: str
    network: str
    port: int = 8080

    def created(self) -> AppCreated:
        return AppCreated(
            app_id=self.app_id, name=self.name, hostname=self.hostname, port=self.port, subnet=self.subnet
        )

    def deleted(self) -> AppDeleted:
        return AppDeleted(app_id=self.app_id, name=self.name, hostname=self.hostname, subnet=self.subnet)


@pytest.fixture
async def app(infra: Platform) -> AsyncIterator[SampleApp]:
    """A fresh app with its own Docker network on a random /28 of the infra's subnet pool."""
    async with sample_app(infra) as test_app:
        yield test_app


@pytest.fixture
async def other_app(infra: Platform) -> AsyncIterator[SampleApp]:
    async with sample_app(infra) as test_app:
        yield test_app


@pytest.fixture
async def later_app(infra: Platform) -> AsyncIterator[SampleApp]:
    async with sample_app(infra) as test_app:
        yield test_app


@contextlib.asynccontextmanager
async def sample_app(infra: Platform) -> AsyncIterator[SampleApp]:
    suffix = uuid.uuid4().hex[:8]
    network = f"berth-test-router-{suffix}"
    candidates = list(infra.settings.subnet_pool.subnets(new_prefix=28))
    for subnet in random.sample(candidates, 5):
        gateway = str(ipaddress.IPv4Network(subnet).network_address + 1)
        created = await sh(
            "docker", "network", "create", "--subnet", str(subnet), "--gateway", gateway, network, check=False
        )
        if created:
            break
    else:
        pytest.fail("could not create a test network in the subnet pool")
    test_app = SampleApp(
        app_id=f"app-{suffix}",
        name=f"web{suffix}",
        hostname=f"web{suffix}.berth.test",
        subnet=str(subnet),
        network=network,
    )
    try:
        yield test_app
    finally:
        containers = await sh("docker", "ps", "-aq", "--filter", f"network={network}", check=False)
        if containers:
            await sh("docker", "rm", "-f", *containers.split(), check=False)
        await sh("docker", "network", "rm", network, check=False)


async def publish(js: JetStreamContext, event: AppCreated | AppDeleted) -> int:
    """Publish as the API does; returns the event's stream sequence."""
    kind = "deleted" if isinstance(event, AppDeleted) else "created"
    ack = await js.publish(app_event_subject(kind, event.app_id), encode(event))
    return int(ack.seq)


async def run_slot(test_app: SampleApp, slot: Slot, image: str) -> None:
    await sh(
        "docker", "run", "-d", "--name", f"{test_app.network}-{slot}",
        "--network", test_app.network, "--ip", slot_address(test_app.subnet, slot),
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--memory", "64m", "--pids-limit", "64", "--read-only",
        image,
    )  # fmt: skip


async def host_in_caddy(caddy: httpx.AsyncClient, hostname: str) -> bool:
    response = await caddy.get("/config/")
    return hostname in response.text


async def page(web: httpx.AsyncClient, hostname: str) -> httpx.Response:
    return await web.get("/", headers={"Host": hostname})


async def acked_through(ctx: ServiceContext, seq: int) -> bool:
    info = await ctx.js.consumer_info(ROUTER_APP_EVENTS.stream, ROUTER_APP_EVENTS.durable)
    return info.ack_floor.stream_seq >= seq and info.num_ack_pending == 0


async def last_caddy_reload(caddy: httpx.AsyncClient) -> str:
    metrics = (await caddy.get("/metrics")).text
    (line,) = [m for m in metrics.splitlines() if m.startswith("caddy_config_last_reload_success_timestamp_seconds ")]
    return line.split()[1]


# -- tests -------------------------------------------------------------------------------------


@pytest.mark.usefixtures("router")
async def test_unknown_host_gets_berths_404_page(web: httpx.AsyncClient) -> None:
    async def not_found() -> httpx.Response | None:
        response = await page(web, f"nobody-{uuid.uuid4().hex[:6]}.berth.test")
        return response if response.status_code == 404 else None

    response = await eventually(not_found, what="the router's first config in Caddy")
    assert "No app here" in response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"


@pytest.mark.usefixtures("router")
async def test_app_gets_503_without_a_release_then_its_container_answers(
    api_js: JetStreamContext, caddy: httpx.AsyncClient, web: httpx.AsyncClient, app: SampleApp,
    test_images: dict[str, str],
) -> None:  # fmt: skip
    await publish(api_js, app.created())
    await eventually(lambda: host_in_caddy(caddy, app.hostname), what="the app's route in Caddy")

    response = await page(web, app.hostname)
    assert response.status_code == 503
    assert f"{app.name} has no running release" in response.text

    await run_slot(app, "a", test_images["v1"])

    async def served() -> httpx.Response | None:
        response = await page(web, app.hostname)
        return response if response.status_code == 200 else None

    response = await eventually(served, what="v1 through Caddy")
    assert response.text.strip() == "v1"

    await publish(api_js, app.deleted())


async def test_deleting_an_app_removes_its_route_for_good(
    router: tuple[Router, ServiceContext],
    api_js: JetStreamContext,
    caddy: httpx.AsyncClient,
    web: httpx.AsyncClient,
    app: SampleApp,
) -> None:
    created = app.created()
    await publish(api_js, created)
    await eventually(lambda: host_in_caddy(caddy, app.hostname), what="the app's route in Caddy")

    await publish(api_js, app.deleted())

    async def not_found() -> bool:
        return (await page(web, app.hostname)).status_code == 404

    await eventually(not_found, what="the deleted app's host to answer 404")

    # A late redelivery of the creation must not bring the route back.
    _, ctx = router
    seq = await publish(api_js, created)
    await eventually(lambda: acked_through(ctx, seq), what="the redelivered event to be acked")
    assert not await host_in_caddy(caddy, app.hostname)


async def test_a_duplicate_event_changes_nothing_and_does_not_reload_caddy(
    router: tuple[Router, ServiceContext], api_js: JetStreamContext, caddy: httpx.AsyncClient, app: SampleApp
) -> None:
    the_router, ctx = router
    created = app.created()
    seq = await publish(api_js, created)
    await eventually(lambda: acked_through(ctx, seq), what="the event to be acked")
    await eventually(lambda: host_in_caddy(caddy, app.hostname), what="the app's route in Caddy")
    config_before = (await caddy.get("/config/")).json()
    loads_before = the_router.sync.loads
    reload_before = await last_caddy_reload(caddy)

    seq = await publish(api_js, created)  # the very same event again, as a redelivery would bring it
    await eventually(lambda: acked_through(ctx, seq), what="the duplicate to be acked")
    passes = the_router.sync.passes

    async def two_more_passes() -> bool:
        return the_router.sync.passes >= passes + 2

    await eventually(two_more_passes, what="the router to compare its config with Caddy's twice")

    assert the_router.sync.loads == loads_before
    assert await last_caddy_reload(caddy) == reload_before
    assert (await caddy.get("/config/")).json() == config_before

    await publish(api_js, app.deleted())


async def test_config_lost_by_caddy_is_restored_by_the_periodic_check(
    infra: Platform, router: tuple[Router, ServiceContext], api_js: JetStreamContext, caddy: httpx.AsyncClient,
    app: SampleApp,
) -> None:  # fmt: skip
    the_router, _ = router
    await publish(api_js, app.created())
    await eventually(lambda: host_in_caddy(caddy, app.hostname), what="the app's route in Caddy")
    expected = (await caddy.get("/config/")).json()
    loads_before = the_router.sync.loads

    # What a Caddy restarted without its saved config would run: the bootstrap config alone.
    bootstrap = json.loads(caddy_launcher.bootstrap_config(infra.settings.caddy_admin_socket))
    assert (await caddy.post("/load", json=bootstrap)).status_code == 200
    assert not await host_in_caddy(caddy, app.hostname)

    async def restored() -> bool:
        return (await caddy.get("/config/")).json() == expected

    await eventually(restored, within=15, what="the router to reload its config")
    assert the_router.sync.loads == loads_before + 1
    assert expected == the_router.sync.render(await the_router.store.all())

    await publish(api_js, app.deleted())


async def test_a_slot_flip_serves_every_request_without_touching_caddys_config(
    *,
    router: tuple[Router, ServiceContext],
    api_js: JetStreamContext,
    caddy: httpx.AsyncClient,
    web: httpx.AsyncClient,
    app: SampleApp,
    test_images: dict[str, str],
) -> None:
    the_router, _ = router
    await publish(api_js, app.created())
    await eventually(lambda: host_in_caddy(caddy, app.hostname), what="the app's route in Caddy")
    await run_slot(app, "a", test_images["v1"])
    await eventually(lambda: answers(web, app.hostname, "v1"), what="v1 through Caddy")
    loads_before = the_router.sync.loads
    reload_before = await last_caddy_reload(caddy)

    answered: list[str] = []
    flipped = asyncio.Event()

    async def traffic() -> None:
        while not flipped.is_set():
            response = await page(web, app.hostname)
            assert response.status_code == 200, response.text
            answered.append(response.text.strip())

    client = asyncio.create_task(traffic())
    # A deploy as the agent does it: start the new slot, wait until it serves, stop the old one.
    await run_slot(app, "b", test_images["v2"])
    await eventually(lambda: answers(web, app.hostname, "v2"), what="v2 through Caddy")
    await sh("docker", "stop", "-t", "5", f"{app.network}-a")

    async def v1_gone() -> bool:
        if client.done():
            client.result()  # the traffic failed: say how, not that v1 never stopped
        return await only_v2_for_a_while(answered)

    await eventually(v1_gone, what="v1 to stop answering")
    flipped.set()
    await client

    assert set(answered) == {"v1", "v2"}
    assert the_router.sync.loads == loads_before
    assert await last_caddy_reload(caddy) == reload_before

    await publish(api_js, app.deleted())


async def answers(web: httpx.AsyncClient, hostname: str, text: str) -> bool:
    return (await page(web, hostname)).text.strip() == text


async def only_v2_for_a_while(answered: list[str]) -> bool:
    return len(answered) > 50 and set(answered[-50:]) == {"v2"}


async def gone(the_router: Router, hostname: str) -> bool:
    return await the_router.domains.get(hostname) is None


async def publish_updated(js: JetStreamContext, test_app: SampleApp, domains: list[str]) -> int:
    event = AppUpdated(
        app_id=test_app.app_id,
        name=test_app.name,
        hostname=test_app.hostname,
        port=test_app.port,
        subnet=test_app.subnet,
        domains=domains,
    )
    ack = await js.publish(app_event_subject("updated", test_app.app_id), encode(event))
    return int(ack.seq)


async def test_an_attached_domain_is_served_by_the_apps_route_until_it_is_detached(
    *,
    router: tuple[Router, ServiceContext],
    api_js: JetStreamContext,
    caddy: httpx.AsyncClient,
    web: httpx.AsyncClient,
    app: SampleApp,
    test_images: dict[str, str],
) -> None:
    the_router, ctx = router
    custom = f"www.{app.name}.example.test"
    await publish(api_js, app.created())
    await run_slot(app, "a", test_images["v1"])
    await eventually(lambda: answers(web, app.hostname, "v1"), what="v1 through Caddy")
    assert (await page(web, custom)).status_code == 404
    loads_before = the_router.sync.loads

    await publish_updated(api_js, app, [custom.upper()])
    await eventually(lambda: answers(web, custom, "v1"), what="the custom domain to serve v1")
    assert the_router.sync.loads == loads_before + 1
    config = (await caddy.get("/config/")).json()
    (route,) = [r for r in config["apps"]["http"]["servers"]["berth"]["routes"] if app.hostname in str(r.get("match"))]
    assert route["match"] == [{"host": [app.hostname, custom]}]

    # The same domains again (any redelivery, or another setting changed): no reload.
    seq = await publish_updated(api_js, app, [custom])
    await eventually(lambda: acked_through(ctx, seq), what="the repeated event to be acked")
    passes = the_router.sync.passes

    async def another_pass() -> bool:
        return the_router.sync.passes >= passes + 1

    await eventually(another_pass, what="the router to compare its config with Caddy's")
    assert the_router.sync.loads == loads_before + 1

    await publish_updated(api_js, app, [])

    async def detached() -> bool:
        return (await page(web, custom)).status_code == 404

    await eventually(detached, what="the detached domain to answer 404")
    assert await answers(web, app.hostname, "v1")
    await publish(api_js, app.deleted())


async def test_the_ask_endpoint_approves_no_local_name_and_no_unverified_public_name(
    router: tuple[Router, ServiceContext], api_js: JetStreamContext, caddy: httpx.AsyncClient, app: SampleApp
) -> None:
    the_router, _ = router
    local = f"shop.{app.name}.example.test"
    public = f"shop.{app.name}.example"
    await publish_updated(api_js, app, [local, public])
    await eventually(lambda: host_in_caddy(caddy, public), what="the domains in Caddy")

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{the_router.ask.port}") as ask:

        async def status(name: str) -> int:
            return (await ask.get("/ask", params={"domain": name})).status_code

        async def verification_failed() -> bool:
            state = await the_router.domains.get(public)
            return state is not None and state.tls_state == "failed" and state.checked_at is not None

        # A public name that does not lead here (.example never does) is never approved.
        await eventually(verification_failed, within=30, what="the public name's verification to fail")
        state = await the_router.domains.get(public)
        assert state is not None and state.verified_at is None and state.reason and public in state.reason
        assert await status(public) == 403
        # Local names (generated ones under berth.test too) only ever get internal certificates:
        # they are never sent to a public CA.
        assert await status(local) == 403
        assert await status(app.hostname) == 403
        assert await status("berth.test") == 403
        assert await status(f"evil.{app.name}.example") == 403
        local_state = await the_router.domains.get(local)
        assert local_state is not None and local_state.issuer == "internal" and local_state.verified_at is None

        await publish(api_js, app.deleted())
        await eventually(lambda: gone(the_router, public), what="the deleted app's domain status to be dropped")
        assert await the_router.domains.get(local) is None


async def test_an_app_whose_routes_caddy_refuses_is_left_out_and_every_other_app_keeps_routing(
    *,
    infra: Platform, router: tuple[Router, ServiceContext], api_js: JetStreamContext, caddy: httpx.AsyncClient,
    web: httpx.AsyncClient, app: SampleApp, other_app: SampleApp, later_app: SampleApp, test_images: dict[str, str],
) -> None:  # fmt: skip
    """The issue's /%zz: Caddy refused every config while one app's route held something it
    refuses (then a health path; Caddy no longer probes, so here a punycode hostname that is no
    IDNA label), so a new app answered 404. Now that app alone is left out, and says why in its
    proxy log."""
    the_router, _ = router
    await publish(api_js, app.created())
    await run_slot(app, "a", test_images["v1"])
    await eventually(lambda: answers(web, app.hostname, "v1"), what="the first app through Caddy")

    # Published as the API would, past the API's own validation.
    bad = AppCreated(
        app_id=other_app.app_id, name=other_app.name, hostname="xn--zz.berth.test", port=other_app.port,
        subnet=other_app.subnet,
    )  # fmt: skip
    url, user, password = infra.observer_nats()
    observer = await nats.connect(url, user=user, password=password)
    proxy_lines = await observer.subscribe(log_subject(other_app.app_id, "proxy"))
    try:
        await api_js.publish(app_event_subject("created", bad.app_id), encode(bad))

        async def refused() -> str | None:
            return (await the_router.store.refused()).get(other_app.app_id)

        reason = await eventually(refused, what="the router to leave the refused app out")
        assert 'idna: invalid label "zz"' in reason
        message = await proxy_lines.next_msg(timeout=30)
        (line,) = decode(message.data, LogBatch).lines
        assert "caddy refuses this app's routes" in line.message and "xn--zz" in line.message
    finally:
        await observer.close()

    assert not await host_in_caddy(caddy, "xn--zz.berth.test")
    assert await answers(web, app.hostname, "v1")
    assert (await page(web, other_app.hostname)).status_code == 404

    # An app deployed afterwards is routed: the refused one freezes nothing.
    await publish(api_js, later_app.created())
    await run_slot(later_app, "a", test_images["v2"])
    await eventually(lambda: answers(web, later_app.hostname, "v2"), within=30, what="the later app through Caddy")
    assert await answers(web, app.hostname, "v1")

    # Fixed by its owner (a new event): it is routed again.
    await publish(api_js, other_app.created())
    await eventually(lambda: host_in_caddy(caddy, other_app.hostname), what="the fixed app back in Caddy")
    assert other_app.app_id not in await the_router.store.refused()

    for sample in (app, other_app, later_app):
        await publish(api_js, sample.deleted())


# -- live slots (ADR 0025) ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def as_agent(infra: Platform) -> AsyncIterator[nats.aio.client.Client]:
    env = ServiceEnv.from_env(infra.service_env("runtime-agent"))
    nc = await bus.connect(env.nats_url, env.nats_user, env.nats_password, name="test-as-agent")
    try:
        yield nc
    finally:
        await nc.close()


async def switch(nc: nats.aio.client.Client, test_app: SampleApp, slot: Slot) -> SlotSwitched:
    request = SwitchSlot(app_id=test_app.app_id, release_id=f"r-{slot}", slot=slot)
    return await bus.request(nc, SLOT_SWITCH, request, SlotSwitched)


async def bodies(web: httpx.AsyncClient, hostname: str, count: int) -> set[str]:
    return {(await page(web, hostname)).text.strip() for _ in range(count)}


async def test_new_requests_go_to_the_slot_the_agent_switched_to_without_a_caddy_reload(
    *,
    infra: Platform, router: tuple[Router, ServiceContext], api_js: JetStreamContext, caddy: httpx.AsyncClient,
    web: httpx.AsyncClient, app: SampleApp, test_images: dict[str, str],
) -> None:  # fmt: skip
    the_router, _ = router
    await publish(api_js, app.created())
    await run_slot(app, "a", test_images["v1"])
    await run_slot(app, "b", test_images["v2"])
    await eventually(lambda: answers(web, app.hostname, "v1"), what="the app through Caddy")
    reload_before = await last_caddy_reload(caddy)

    async with as_agent(infra) as agent:
        first = True
        for slot, body in (("b", "v2"), ("a", "v1"), ("b", "v2")):
            confirmed = await switch(agent, app, slot)  # type: ignore[arg-type]
            assert (confirmed.app_id, confirmed.slot, confirmed.release_id) == (app.app_id, slot, f"r-{slot}")
            # Before the first switch the router had no answer for the app (the proxy used both
            # slots); then the app was just asked for: the proxy may hold that answer, at most a refresh.
            assert confirmed.stale_for_seconds is not None
            if first:
                assert confirmed.stale_for_seconds == 0
            else:
                assert 0 < confirmed.stale_for_seconds <= UPSTREAM_REFRESH_SECONDS + 0.02
            first = False
            await asyncio.sleep(confirmed.stale_for_seconds)  # as the agent waits it
            assert await bodies(web, app.hostname, 30) == {body}, f"after the switch to {slot}"
    assert await last_caddy_reload(caddy) == reload_before

    # Caddy looks the slot up only while requests need it: an idle app costs no query.
    await asyncio.sleep(2 * UPSTREAM_REFRESH_SECONDS)
    queries = the_router.slots.dns.queries
    await asyncio.sleep(1.0)
    assert the_router.slots.dns.queries == queries
    # ... and a switch of an idle app holds nothing back: its first request already goes there.
    async with as_agent(infra) as agent:
        confirmed = await switch(agent, app, "a")
    assert confirmed.stale_for_seconds == 0
    assert await bodies(web, app.hostname, 30) == {"v1"}

    await publish(api_js, app.deleted())

    async def forgotten() -> bool:
        return app.app_id not in the_router.slots.live

    await eventually(forgotten, what="the deleted app's slot forgotten")


async def test_every_web_address_of_the_live_slot_answers_and_one_scaled_away_is_left_after_the_stale_bound(
    *,
    infra: Platform, router: tuple[Router, ServiceContext], api_js: JetStreamContext, caddy: httpx.AsyncClient,
    web: httpx.AsyncClient, app: SampleApp, test_images: dict[str, str],
) -> None:  # fmt: skip
    """ADR 0026 §2: web x2 of slot b (the slot's fixed address and one the agent picked)."""
    await publish(api_js, app.created())
    await run_slot(app, "b", test_images["v2"])
    second = str(ipaddress.IPv4Network(app.subnet).network_address + 5)
    await sh(
        "docker", "run", "-d", "--name", f"{app.network}-b-web-1", "--network", app.network, "--ip", second,
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--memory", "64m", "--pids-limit", "64", "--read-only",
        test_images["v1"],
    )  # fmt: skip
    await eventually(lambda: host_in_caddy(caddy, app.hostname), what="the app's route in Caddy")
    both = [slot_address(app.subnet, "b"), second]

    async with as_agent(infra) as agent:
        request = SwitchSlot(app_id=app.app_id, release_id="r-b", slot="b", addresses=both)
        confirmed = await bus.request(agent, SLOT_SWITCH, request, SlotSwitched)
        assert confirmed.stale_for_seconds == 0  # never answered before
        assert await bodies(web, app.hostname, 40) == {"v1", "v2"}  # both instances serve

        # Scaled down to instance 0: the proxy may hold the answer naming both for the bound it says.
        request = SwitchSlot(app_id=app.app_id, release_id="r-b", slot="b", addresses=both[:1])
        confirmed = await bus.request(agent, SLOT_SWITCH, request, SlotSwitched)
        assert confirmed.stale_for_seconds is not None
        assert 0 < confirmed.stale_for_seconds <= UPSTREAM_REFRESH_SECONDS + 0.02
        await asyncio.sleep(confirmed.stale_for_seconds)  # as the agent waits it
        assert await bodies(web, app.hostname, 30) == {"v2"}
    await publish(api_js, app.deleted())


async def test_an_app_switched_to_no_web_instance_gets_its_503_page_at_once_and_serves_again_after(
    *,
    infra: Platform, router: tuple[Router, ServiceContext], api_js: JetStreamContext, caddy: httpx.AsyncClient,
    web: httpx.AsyncClient, app: SampleApp, test_images: dict[str, str],
) -> None:  # fmt: skip
    """ADR 0026: web scaled to 0. Without the mark a request would wait out the retry window
    (5 s) on addresses that are gone; with it the proxy answers at once, with no Caddy reload."""
    await publish(api_js, app.created())
    await run_slot(app, "a", test_images["v1"])
    await eventually(lambda: answers(web, app.hostname, "v1"), what="the app through Caddy")
    async with as_agent(infra) as agent:
        await switch(agent, app, "a")
        reload_before = await last_caddy_reload(caddy)
        await sh("docker", "rm", "-f", f"{app.network}-a")  # the instance is gone, as after a drain
        request = SwitchSlot(app_id=app.app_id, release_id="r-a", slot="a", no_instances=True)
        confirmed = await bus.request(agent, SLOT_SWITCH, request, SlotSwitched)
        await asyncio.sleep(confirmed.stale_for_seconds or 0)
        for _ in range(5):
            started = time.monotonic()
            response = await page(web, app.hostname)
            assert response.status_code == 503 and "has no web instance" in response.text
            assert time.monotonic() - started < 0.5
        assert await last_caddy_reload(caddy) == reload_before

        await run_slot(app, "a", test_images["v2"])
        request = SwitchSlot(app_id=app.app_id, release_id="r-a2", slot="a")
        confirmed = await bus.request(agent, SLOT_SWITCH, request, SlotSwitched)
        await asyncio.sleep(confirmed.stale_for_seconds or 0)
        assert await bodies(web, app.hostname, 10) == {"v2"}
    await publish(api_js, app.deleted())


async def test_after_a_restart_the_live_slots_come_back_from_the_agent_and_a_switch_meanwhile_wins(
    *,
    infra: Platform, router: tuple[Router, ServiceContext], api_js: JetStreamContext, web: httpx.AsyncClient,
    app: SampleApp, other_app: SampleApp, test_images: dict[str, str],
) -> None:  # fmt: skip
    the_router, ctx = router
    for sample in (app, other_app):
        await publish(api_js, sample.created())
        await run_slot(sample, "a", test_images["v1"])
        await run_slot(sample, "b", test_images["v2"])
    await eventually(lambda: answers(web, other_app.hostname, "v1"), what="the apps through Caddy")
    # What a restarted router holds: nothing (Caddy falls back to both slots meanwhile).
    the_router.slots.forget(app.app_id)
    the_router.slots.forget(other_app.app_id)
    asked = asyncio.Event()
    release = asyncio.Event()

    async with as_agent(infra) as agent:

        async def answer(msg: Msg) -> None:
            asked.set()
            await release.wait()  # the agent's answer is computed before the switch below
            served = [ServingSlot(app_id=s.app_id, release_id="r-b", slot="b") for s in (app, other_app)]
            await msg.respond(encode(ServingSlots(host="local", slots=served)))

        await agent.subscribe(serving_slots_subject("local"), cb=answer)
        await agent.flush()  # the server knows the subscription before the router asks
        resync = asyncio.create_task(the_router.slots.resync(ctx.nc))
        await asyncio.wait_for(asked.wait(), 10)
        await switch(agent, other_app, "a")  # switched by the agent after it answered
        release.set()
        repairs = await resync

    # (The router's own periodic pass may have repaired ``app`` first: either way, never other_app.)
    assert other_app.app_id not in [r.app_id for r in repairs]
    await asyncio.sleep(UPSTREAM_REFRESH_SECONDS)
    assert await bodies(web, app.hostname, 20) == {"v2"}
    assert await bodies(web, other_app.hostname, 20) == {"v1"}
    for sample in (app, other_app):
        await publish(api_js, sample.deleted())
