"""Fixtures shared by every test: real infrastructure started by Berth's own launcher."""

from __future__ import annotations

import ipaddress
import random
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from berth_cli.launcher.platform import Platform
from berth_shared.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_subnet_pool() -> str:
    """A /22 of 10.241.0.0/16 picked at random so parallel or leftover runs do not collide."""
    base = ipaddress.IPv4Network("10.241.0.0/16")
    return str(random.choice(list(base.subnets(new_prefix=22))))


def test_settings(home: Path, **overrides: str) -> Settings:
    env = {
        "BERTH_HOME": str(home),
        "BERTH_DOMAIN": "berth.test",
        "BERTH_HTTP_PORT": str(free_port()),
        "BERTH_HTTPS_PORT": str(free_port()),
        "BERTH_API_PORT": str(free_port()),
        "BERTH_NATS_PORT": str(free_port()),
        "BERTH_PG_PORT": str(free_port()),
        "BERTH_CADDY_ADMIN_PORT": str(free_port()),
        "BERTH_SUBNET_POOL": test_subnet_pool(),
        "BERTH_HOST_ID": "local",
    }
    env.update(overrides)
    return Settings.from_env(env)


@pytest.fixture(scope="session")
async def infra(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    """Postgres, NATS and Caddy from the launcher, with every service's role, schema and user
    provisioned, but no service processes: integration tests run the service under test."""
    home = tmp_path_factory.mktemp("berth-infra")
    platform = Platform(test_settings(home), services=())
    await platform.start()
    try:
        yield platform
    finally:
        await platform.stop()
