"""`python -m berth_api`: the API gateway process (started by `berth up`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator

import asyncpg
import uvicorn
from berth_shared import bus, service
from berth_shared.contracts.base import decode
from berth_shared.contracts.containers import ContainerEvent
from berth_shared.contracts.desired import DESIRED_GET, DESIRED_LIST
from berth_shared.contracts.domains import DomainStatusChanged
from berth_shared.contracts.health import HealthEvent
from berth_shared.contracts.owner_state import APPS_LIST
from berth_shared.contracts.releases import AgentEvent
from berth_shared.streams import API_CONTAINER_EVENTS, API_DOMAIN_EVENTS, API_HEALTH_EVENTS, API_RELEASE_EVENTS
from nats.aio.msg import Msg

from berth_api import app_list, container_events, desired, domain_events, health_events, keyring, release_events
from berth_api.app import create_app
from berth_api.auth import seed_admin_token
from berth_api.migrations import MIGRATIONS
from berth_api.outbox import OutboxPublisher
from berth_api.state import ApiState

log = logging.getLogger("berth.api")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service runner owns SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def main(ctx: service.ServiceContext) -> None:
    settings = ctx.settings
    try:
        chain = keyring.Keychain(keyring.load())
    except keyring.KeyringError as exc:
        log.error("cannot start: %s", exc)
        raise
    await warn_unknown_keys(ctx.pool, chain)
    await seed_admin_token(ctx.pool, os.environ.get("BERTH_BOOTSTRAP_TOKEN"))
    outbox = OutboxPublisher(ctx.pool, ctx.js)
    state = ApiState(pool=ctx.pool, nc=ctx.nc, settings=settings, outbox=outbox)

    await bus.serve(ctx.nc, DESIRED_GET, "api", lambda data: desired.get(ctx.pool, data, settings.domain, chain))
    await bus.serve(ctx.nc, DESIRED_LIST, "api", lambda data: desired.list_all(ctx.pool, data, settings.domain, chain))
    await bus.serve(ctx.nc, APPS_LIST, "api", lambda data: app_list.list_apps(ctx.pool, data, settings.domain))

    async def on_agent_event(msg: Msg) -> None:
        event: AgentEvent = decode(msg.data, AgentEvent)
        async with ctx.pool.acquire() as conn:
            await release_events.apply(conn, event)

    async def on_container_event(msg: Msg) -> None:
        event: ContainerEvent = decode(msg.data, ContainerEvent)
        async with ctx.pool.acquire() as conn:
            await container_events.record(conn, event)

    async def on_health_event(msg: Msg) -> None:
        event: HealthEvent = decode(msg.data, HealthEvent)
        async with ctx.pool.acquire() as conn:
            await health_events.apply(conn, event, settings.host_id)
        outbox.notify()

    async def on_domain_event(msg: Msg) -> None:
        event = decode(msg.data, DomainStatusChanged)
        async with ctx.pool.acquire() as conn:
            await domain_events.apply(conn, event)

    server = _Server(
        uvicorn.Config(
            create_app(state, chain, os.environ.get("BERTH_PROXY_SECRET")),
            host="127.0.0.1",
            port=settings.api_port,
            log_config=None,
            access_log=False,
        )
    )
    tasks = [
        asyncio.create_task(outbox.run(), name="outbox"),
        asyncio.create_task(
            bus.consume(ctx.js, API_RELEASE_EVENTS, on_agent_event, stop=ctx.stop), name="agent-events"
        ),
        asyncio.create_task(
            bus.consume(ctx.js, API_CONTAINER_EVENTS, on_container_event, stop=ctx.stop), name="container-events"
        ),
        asyncio.create_task(
            bus.consume(ctx.js, API_HEALTH_EVENTS, on_health_event, stop=ctx.stop), name="health-events"
        ),
        asyncio.create_task(
            bus.consume(ctx.js, API_DOMAIN_EVENTS, on_domain_event, stop=ctx.stop), name="domain-events"
        ),
    ]
    outbox.notify()
    try:
        await server.serve()
    finally:
        server.should_exit = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def warn_unknown_keys(pool: asyncpg.Pool, chain: keyring.Keychain) -> None:
    """Say at start, not at the next deploy, when stored values name keys this keyring lacks."""
    ring = chain.ring
    log.info("master key from %s; current key id %s", ring.source, ring.current)
    rows = await pool.fetch("SELECT key_id, count(*) AS n FROM env_vars GROUP BY key_id")
    unknown = {r["key_id"]: r["n"] for r in rows if r["key_id"] not in ring.by_id()}
    if unknown:
        log.error(
            "env values sealed with keys not in the keyring (deploys of their apps will fail): %s; "
            "was BERTH_MASTER_KEY or $BERTH_HOME/master.key changed?",
            ", ".join(f"{k} ({n} values)" for k, n in sorted(unknown.items())),
        )


if __name__ == "__main__":
    service.run(
        "api", "api", MIGRATIONS, [API_RELEASE_EVENTS, API_CONTAINER_EVENTS, API_HEALTH_EVENTS, API_DOMAIN_EVENTS], main
    )
