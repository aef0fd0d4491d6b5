"""Fixtures of the agent's tests; the harness itself lives in ``agent_harness``."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiodocker
import pytest
from berth_shared import bus
from berth_shared.contracts.releases import AGENT_EVENTS
from berth_shared.service import close_context
from berth_shared.streams import agent_command_consumer

sys.path.insert(0, str(Path(__file__).parent))  # --import-mode=importlib: make agent_harness importable

from agent_harness import EventLog, FakeApi, FakeRouter, Harness


@pytest.fixture
async def harness(infra: Any) -> AsyncIterator[Harness]:
    suffix = uuid.uuid4().hex[:8]
    api_nc = await bus.connect(infra.nats_url, "api", infra.credentials.nats_passwords["api"])
    observer_url, observer_user, observer_password = infra.observer_nats()
    observer = await bus.connect(observer_url, observer_user, observer_password)
    events = EventLog()
    await observer.subscribe(AGENT_EVENTS, cb=events.on_msg)
    host = f"h{suffix}"
    api = FakeApi(api_nc, host)
    await api.start()
    router_nc = await bus.connect(infra.nats_url, "router", infra.credentials.nats_passwords["router"])
    router = FakeRouter(router_nc)
    await router.start()
    docker = aiodocker.Docker()
    h = Harness(
        infra=infra, docker=docker, api=api, events=events, instance=f"t{suffix}", host=host, observer=observer,
        router=router,
    )  # fmt: skip
    try:
        yield h
    finally:
        for ctx, _ in h.agents[:1]:
            with contextlib.suppress(Exception):
                await ctx.pool.execute("DELETE FROM images WHERE instance = $1", h.instance)
                await ctx.pool.execute("DELETE FROM log_cursors WHERE instance = $1", h.instance)
        for ctx, task in list(h.agents):
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await close_context(ctx)
        await h.remove_everything()
        await docker.close()
        with contextlib.suppress(Exception):
            await observer.jetstream().delete_consumer("BERTH_CMD", agent_command_consumer(host).durable)
        await observer.drain()
        await api_nc.drain()
        await router_nc.drain()
