"""A platform of a test's own, run in-process by the launcher with the observer NATS identity
(which may read streams and pause consumers), and what tests do with it: call its API as the
admin, and keep one of its services deaf by pausing that service's durable consumer."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import nats
from berth_cli.launcher.platform import Platform
from berth_shared.streams import ConsumerSpec
from berth_testing import isolated_settings, remove_instance_containers
from nats.js import JetStreamContext


@contextlib.asynccontextmanager
async def observed_platform(home: Path, **overrides: str) -> AsyncIterator[Platform]:
    """A platform with its home under ``home`` and the observer identity; ``overrides`` are
    settings (``BERTH_RESYNC_SECONDS="3"``). Stopped, and its containers removed, on exit."""
    p = Platform(isolated_settings(home, **overrides), observer=True)
    await p.start()
    try:
        yield p
    finally:
        await p.stop()
        remove_instance_containers(p.credentials.instance)


@contextlib.asynccontextmanager
async def admin_client(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    """The platform's API with the admin token."""
    base = f"http://127.0.0.1:{platform.settings.api_port}"
    headers = {"Authorization": f"Bearer {platform.admin_token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        yield client


@contextlib.asynccontextmanager
async def observer(platform: Platform) -> AsyncIterator[JetStreamContext]:
    """JetStream as the observer identity."""
    url, user, password = platform.observer_nats()
    nc = await nats.connect(url, user=user, password=password)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


@contextlib.asynccontextmanager
async def paused_consumer(platform: Platform, consumer: ConsumerSpec) -> AsyncIterator[JetStreamContext]:
    """``consumer`` paused for an hour (nothing reaches its service, as when events are lost)
    for the ``with`` block, resumed after it; yields the observer's JetStream."""
    async with observer(platform) as js:
        until = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        paused = await js.pause_consumer(consumer.stream, consumer.durable, until)
        assert paused.paused
        try:
            yield js
        finally:
            await js.resume_consumer(consumer.stream, consumer.durable)
