"""``berth.rpc.router.domains.list`` as the router serves it: the API (and only the API) gets
every attached hostname's current state from ``domain_status``, each with when it last changed
(what the API's resync compares with what it holds, ADR 0018)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import nats.errors
import pytest
from berth_cli.launcher.platform import Platform
from berth_router.migrations import MIGRATIONS
from berth_router.router import Router
from berth_router.service import responders
from berth_shared import bus
from berth_shared.contracts.domains import DOMAIN_STATES_LIST, DomainStates, ListDomainStates
from berth_shared.service import ServiceContext, close_context, open_context
from berth_shared.settings import ServiceEnv, Settings
from nats.aio.client import Client

pytestmark = pytest.mark.integration

CHANGED = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
async def router_ctx(infra: Platform) -> AsyncIterator[ServiceContext]:
    """The router's identity and schema, answering its queries as ``serve`` does."""
    env = infra.service_env("router")
    ctx = await open_context("router", MIGRATIONS, env=ServiceEnv.from_env(env), settings=Settings.from_env(env))
    for subject, responder in responders(Router.from_context(ctx)).items():
        await bus.serve(ctx.nc, subject, "router", responder)
    try:
        yield ctx
    finally:
        await close_context(ctx)


async def connect_as(infra: Platform, service: str) -> Client:
    env = ServiceEnv.from_env(infra.service_env(service))
    return await bus.connect(env.nats_url, env.nats_user, env.nats_password, name=f"test-as-{service}")


@pytest.fixture
async def hostnames(router_ctx: ServiceContext) -> AsyncIterator[tuple[str, str, str]]:
    """Two hostnames the router holds: one issued by the internal CA, one public name that
    failed verification; and their app."""
    app_id, tag = str(uuid.uuid4()), uuid.uuid4().hex[:8]
    local, public = f"shop-{tag}.example.test", f"www-{tag}.example.com"
    await router_ctx.pool.execute(
        "INSERT INTO domain_status (hostname, app_id, issuer, tls_state, changed_at, version) "
        "VALUES ($1, $2, 'internal', 'issued', $3, 2)",
        local,
        app_id,
        CHANGED,
    )
    await router_ctx.pool.execute(
        "INSERT INTO domain_status (hostname, app_id, issuer, verify_method, tls_state, reason, checked_at, "
        "changed_at, version) VALUES ($1, $2, 'acme', 'dns', 'pending', 'no A record', $3, $3, 5)",
        public,
        app_id,
        CHANGED + timedelta(minutes=1),
    )
    try:
        yield app_id, local, public
    finally:
        await router_ctx.pool.execute("DELETE FROM domain_status WHERE app_id = $1", app_id)


async def test_the_api_gets_every_hostnames_state_and_when_it_changed(
    infra: Platform, hostnames: tuple[str, str, str]
) -> None:
    app_id, local, public = hostnames
    nc = await connect_as(infra, "api")
    try:
        states = await bus.request(nc, DOMAIN_STATES_LIST, ListDomainStates(requester="api"), DomainStates)
    finally:
        await nc.close()
    held = {d.hostname: d for d in states.domains if d.app_id == app_id}
    assert set(held) == {local, public}
    assert (held[local].issuer, held[local].tls_state, held[local].changed_at, held[local].version) == (
        "internal",
        "issued",
        CHANGED,
        2,
    )
    failed = held[public]
    assert (failed.issuer, failed.verify_method, failed.tls_state, failed.reason) == (
        "acme",
        "dns",
        "pending",
        "no A record",
    )
    assert (failed.checked_at, failed.changed_at, failed.version) == (CHANGED + timedelta(minutes=1),) * 2 + (5,)


@pytest.mark.usefixtures("hostnames")
@pytest.mark.parametrize("service", ["logs", "health", "runtime-agent"])
async def test_no_other_service_may_ask(infra: Platform, service: str) -> None:
    nc = await connect_as(infra, service)
    try:
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await bus.request(nc, DOMAIN_STATES_LIST, ListDomainStates(requester=service), DomainStates, timeout=2)
    finally:
        await nc.close()
