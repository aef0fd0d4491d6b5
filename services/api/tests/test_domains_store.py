"""Custom domains against real Postgres: one owner per hostname, and every change re-publishes
the app's full list of hostnames (AppUpdated) through the outbox in the same transaction."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from berth_api import apps_store, domains_store
from berth_api.validation import CreateApp
from berth_shared.contracts.apps import AppUpdated
from berth_shared.contracts.base import decode
from berth_shared.errors import Conflict, NotFound

pytestmark = pytest.mark.integration

DOMAIN = "berth.test"


async def new_app(pool: asyncpg.Pool, infra: Any) -> asyncpg.Record:
    async with pool.acquire() as conn:
        return await apps_store.create_app(
            conn, CreateApp(name=f"d{uuid.uuid4().hex[:10]}"), infra.settings.subnet_pool, DOMAIN
        )


async def last_updated(pool: asyncpg.Pool, app_id: uuid.UUID) -> AppUpdated:
    payload = await pool.fetchval(
        "SELECT payload FROM outbox WHERE subject = $1 ORDER BY id DESC LIMIT 1", f"berth.evt.api.app.updated.{app_id}"
    )
    assert payload is not None
    event = decode(bytes(payload), AppUpdated)
    assert isinstance(event, AppUpdated)
    return event


async def test_attach_and_detach_publish_the_apps_hostnames(pool: asyncpg.Pool, infra: Any) -> None:
    app = await new_app(pool, infra)
    host = f"{app['name']}.example.com"
    async with pool.acquire() as conn:
        row = await domains_store.add_domain(conn, app["name"], host, DOMAIN)
        await domains_store.add_domain(conn, str(app["id"]), f"www.{host}", DOMAIN)
    assert row["tls_status"] == "pending" and row["verified_at"] is None
    assert (await last_updated(pool, app["id"])).domains == [host, f"www.{host}"]
    async with pool.acquire() as conn:
        await domains_store.remove_domain(conn, app["name"], str(row["id"]), DOMAIN)
        await domains_store.remove_domain(conn, app["name"], f"WWW.{host}.", DOMAIN)
        with pytest.raises(NotFound):
            await domains_store.remove_domain(conn, app["name"], host, DOMAIN)
    assert (await last_updated(pool, app["id"])).domains == []


async def test_a_hostname_has_one_owner_until_its_app_is_deleted(pool: asyncpg.Pool, infra: Any) -> None:
    first, second = await new_app(pool, infra), await new_app(pool, infra)
    host = f"{first['name']}.example.org"
    async with pool.acquire() as conn:
        await domains_store.add_domain(conn, first["name"], host, DOMAIN)
        with pytest.raises(Conflict, match="already attached to this app"):
            await domains_store.add_domain(conn, first["name"], host, DOMAIN)
        with pytest.raises(Conflict, match=f"already attached to app '{first['name']}'"):
            await domains_store.add_domain(conn, second["name"], host, DOMAIN)
        with pytest.raises(Conflict, match="under BERTH_DOMAIN"):
            await domains_store.add_domain(conn, second["name"], f"{first['name']}.{DOMAIN}", DOMAIN)
        await apps_store.delete_app(conn, first["name"], DOMAIN, "local")
        taken = await domains_store.add_domain(conn, second["name"], host, DOMAIN)
    assert taken["app_id"] == second["id"]
