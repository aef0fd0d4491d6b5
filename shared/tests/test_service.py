"""A service's context holds at most the Postgres connections its entry point states (each is a
Postgres backend, 3-8 MB of the platform's memory); more concurrent queries wait for one."""

from __future__ import annotations

import asyncio

import pytest
from berth_cli.launcher.platform import Platform
from berth_shared.service import close_context, open_context
from berth_shared.settings import ServiceEnv, Settings

pytestmark = pytest.mark.integration


async def test_concurrent_queries_share_the_stated_number_of_backends(infra: Platform) -> None:
    env = infra.service_env("router")
    ctx = await open_context("router", (), env=ServiceEnv.from_env(env), settings=Settings.from_env(env), pool_size=2)
    try:

        async def query(i: int) -> tuple[int, int]:
            row = await ctx.pool.fetchrow("SELECT $1::int AS i, pg_backend_pid() AS pid FROM pg_sleep(0.05)", i)
            assert row is not None
            return row["i"], row["pid"]

        answers = await asyncio.gather(*(query(i) for i in range(8)))
    finally:
        await close_context(ctx)
    assert sorted(i for i, _ in answers) == list(range(8))  # every query answered
    assert len({pid for _, pid in answers}) == 2  # on two backends, not eight
