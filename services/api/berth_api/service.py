"""The API process: what it answers on the bus (responders), what it applies from the bus
(consumers), what it serves over HTTP, and its background work (the outbox). ``__main__``
only starts it."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import uvicorn
from berth_shared import bus, resync, tasks
from berth_shared.contracts.base import decode
from berth_shared.contracts.containers import ContainerEvent
from berth_shared.contracts.desired import DESIRED_GET, DESIRED_LIST
from berth_shared.contracts.domains import DomainStatusChanged
from berth_shared.contracts.health import HealthEvent
from berth_shared.contracts.owner_state import APPS_LIST
from berth_shared.contracts.releases import AgentEvent
from berth_shared.contracts.runs import DESIRED_RUN, RunEvent
from berth_shared.db import Connection
from berth_shared.service import ServiceContext
from berth_shared.streams import (
    API_CONTAINER_EVENTS,
    API_DOMAIN_EVENTS,
    API_HEALTH_EVENTS,
    API_RELEASE_EVENTS,
    API_RUN_EVENTS,
    ConsumerSpec,
)
from nats.aio.msg import Msg

from berth_api import agent_resync, domain_resync, health_resync, keyring
from berth_api.app import create_app
from berth_api.auth import seed_admin_token
from berth_api.consumers import container_events, domain_events, health_events, release_events, run_events
from berth_api.cron.run import CronLoop, run_events_applied
from berth_api.outbox import OutboxPublisher
from berth_api.responders import app_list, desired, runs
from berth_api.state import ApiState

log = logging.getLogger("berth.api")

# The durable consumers the API owns (created at start, ``OWNED_CONSUMERS`` in ``streams.py``).
CONSUMERS: list[ConsumerSpec] = [
    API_RELEASE_EVENTS,
    API_CONTAINER_EVENTS,
    API_HEALTH_EVENTS,
    API_DOMAIN_EVENTS,
    API_RUN_EVENTS,
]


def responders(ctx: ServiceContext, chain: keyring.Keychain) -> dict[str, bus.Responder]:
    """Each query subject the API answers (queue group ``api``) and its responder."""
    pool, domain = ctx.pool, ctx.settings.domain
    return {
        DESIRED_GET: lambda data: desired.get(pool, data, domain, chain),
        DESIRED_LIST: lambda data: desired.list_all(pool, data, domain, chain),
        APPS_LIST: lambda data: app_list.list_apps(pool, data, domain),
        DESIRED_RUN: lambda data: runs.get(pool, data, chain),
    }


def appliers(ctx: ServiceContext) -> dict[str, tuple[ConsumerSpec, bus.Handler]]:
    """Each consumer the API pulls from and the applier of its events (by task name)."""
    pool, host = ctx.pool, ctx.settings.host_id

    async def on_health_event(conn: Connection, event: HealthEvent) -> None:
        await health_events.apply(conn, event, host)

    return {
        "agent-events": (API_RELEASE_EVENTS, applier(pool, AgentEvent, release_events.apply)),
        "container-events": (API_CONTAINER_EVENTS, applier(pool, ContainerEvent, container_events.record)),
        "health-events": (API_HEALTH_EVENTS, applier(pool, HealthEvent, on_health_event)),
        "domain-events": (API_DOMAIN_EVENTS, applier(pool, DomainStatusChanged, domain_events.apply)),
        "run-events": (API_RUN_EVENTS, applier(pool, RunEvent, run_events.apply)),
    }


def applier(pool: asyncpg.Pool, kind: Any, apply: Callable[[Connection, Any], Awaitable[None]]) -> bus.Handler:
    """A message handler: decode the message as ``kind``, apply it on a pooled connection."""

    async def handle(msg: Msg) -> None:
        event = decode(msg.data, kind)
        async with pool.acquire() as conn:
            await apply(conn, event)

    return handle


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the service runner owns SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def main(ctx: ServiceContext) -> None:
    settings = ctx.settings
    try:
        chain = keyring.Keychain(keyring.load())
    except keyring.KeyringError as exc:
        log.error("cannot start: %s", exc)
        raise
    await warn_unknown_keys(ctx.pool, chain)
    await seed_admin_token(ctx.pool, os.environ.get("BERTH_BOOTSTRAP_TOKEN"))
    # The outbox publisher listens for commits on a connection of its own (not one of the pool's).
    outbox = OutboxPublisher(ctx.pool, ctx.js, lambda: asyncpg.connect(ctx.env.database_url))
    state = ApiState(pool=ctx.pool, nc=ctx.nc, settings=settings)

    for subject, responder in responders(ctx, chain).items():
        await bus.serve(ctx.nc, subject, "api", responder)

    server = _Server(
        uvicorn.Config(
            create_app(state, chain, os.environ.get("BERTH_PROXY_SECRET")),
            host="127.0.0.1",
            port=settings.api_port,
            log_config=None,
            access_log=False,
        )
    )
    # Events missed from the agent, health and the router are repaired from their own state (ADR 0018).
    owners = {
        "agent": lambda: agent_resync.resync(ctx.pool, ctx.nc, settings.host_id),
        "health": lambda: health_resync.resync(ctx.pool, ctx.nc),
        "domains": lambda: domain_resync.resync(ctx.pool, ctx.nc),
    }
    interval = float(settings.resync_seconds)
    work = {
        "outbox": outbox.run(),
        # Cron jobs of every app's live release (ADR 0026 §4).
        "cron": CronLoop(ctx.pool, settings.host_id, settle=lambda: run_events_applied(ctx.js)).run(ctx.stop),
        **{
            f"{what}-resync": resync.periodically(ctx.stop, repair, what=what, interval=interval)
            for what, repair in owners.items()
        },
        **{name: bus.consume(ctx.js, spec, handler, stop=ctx.stop) for name, (spec, handler) in appliers(ctx).items()},
    }
    try:
        async with tasks.running(work):
            await server.serve()
    finally:
        server.should_exit = True


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
