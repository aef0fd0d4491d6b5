"""The common life of a Berth service process: connect, migrate, declare, run, stop on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from nats.aio.client import Client
from nats.js import JetStreamContext

from berth_shared import bus, db
from berth_shared import logging as berth_logging
from berth_shared.settings import ServiceEnv, Settings
from berth_shared.streams import ConsumerSpec

log = logging.getLogger("berth.service")


@dataclass
class ServiceContext:
    env: ServiceEnv
    settings: Settings
    nc: Client
    js: JetStreamContext
    pool: asyncpg.Pool
    stop: asyncio.Event


Main = Callable[[ServiceContext], Coroutine[Any, Any, None]]


async def open_context(
    schema: str,
    migrations: Sequence[str],
    consumers: Sequence[ConsumerSpec] = (),
    env: ServiceEnv | None = None,
    settings: Settings | None = None,
    *,
    pool_size: int = db.DEFAULT_POOL_SIZE,
) -> ServiceContext:
    env = env or ServiceEnv.from_env()
    settings = settings or Settings.from_env()
    pool = await db.create_pool(env.database_url, schema, max_size=pool_size)
    await db.migrate(pool, schema, migrations)
    nc = await bus.connect(env.nats_url, env.nats_user or None, env.nats_password or None, name=env.name)
    js = nc.jetstream()
    # Streams exist already (the launcher provisions them before any service starts); a service
    # may not create or change them. It creates only its own durable consumers.
    for consumer in consumers:
        await bus.ensure_consumer(js, consumer)
    return ServiceContext(env=env, settings=settings, nc=nc, js=js, pool=pool, stop=asyncio.Event())


async def close_context(ctx: ServiceContext) -> None:
    try:
        await ctx.nc.drain()
    except Exception:
        log.debug("nats drain failed", exc_info=True)
    await ctx.pool.close()


def run(
    service: str,
    schema: str,
    migrations: Sequence[str],
    consumers: Sequence[ConsumerSpec],
    main: Main,
    *,
    pool_size: int = db.DEFAULT_POOL_SIZE,
) -> None:
    """Entry point of ``python -m berth_<service>``; ``pool_size``: the most Postgres connections
    the service holds at once (its real concurrency: each one is a Postgres backend)."""
    berth_logging.setup(service)

    async def runner() -> None:
        ctx = await open_context(schema, migrations, consumers, pool_size=pool_size)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, ctx.stop.set)
        log.info("%s started", service)
        task = asyncio.create_task(main(ctx))
        stopper = asyncio.create_task(ctx.stop.wait())
        done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if task in done and (error := task.exception()) is not None:
            await close_context(ctx)
            raise error
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await close_context(ctx)
        log.info("%s stopped", service)

    asyncio.run(runner())
