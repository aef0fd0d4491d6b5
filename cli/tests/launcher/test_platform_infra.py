"""The launcher brings up real Postgres, NATS and Caddy with per-service isolation."""

from __future__ import annotations

import asyncpg
import httpx
import nats
import pytest
from berth_cli.launcher.platform import Platform

pytestmark = pytest.mark.integration


async def test_each_service_role_reaches_only_its_own_schema(infra: Platform) -> None:
    api = await asyncpg.connect(infra.service_database_url("api"))
    try:
        await api.execute("CREATE TABLE IF NOT EXISTS api.probe (x int)")
        assert await api.fetchval("SHOW search_path") == "api"
    finally:
        await api.close()
    router = await asyncpg.connect(infra.service_database_url("router"))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await router.fetch("SELECT * FROM api.probe")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await router.execute("CREATE TABLE public.sneaky (x int)")
    finally:
        await router.close()


async def test_nats_users_may_publish_only_their_own_subjects(infra: Platform) -> None:
    env = infra.service_env("router")
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    nc = await nats.connect(
        env["BERTH_SERVICE_NATS_URL"],
        user=env["BERTH_SERVICE_NATS_USER"],
        password=env["BERTH_SERVICE_NATS_PASSWORD"],
        error_cb=on_error,
    )
    try:
        await nc.publish("berth.evt.api.app.created.x", b"{}")
        await nc.flush()
        for _ in range(50):
            if errors:
                break
            await nc.flush()
        assert any("permissions violation" in str(e).lower() for e in errors), errors
    finally:
        await nc.close()


async def test_caddy_admin_listens_on_loopback_only(infra: Platform) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{infra.settings.caddy_admin_port}/config/")
    assert response.status_code == 200
    assert infra.settings.caddy_admin_port not in _listening_ports_on_all_interfaces()


def _listening_ports_on_all_interfaces() -> set[int]:
    ports = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, port = local.split(":")
            if state == "0A" and addr == "00000000":
                ports.add(int(port, 16))
    return ports
