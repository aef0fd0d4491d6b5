"""An audit entry names who acted: a token by its name and id, the platform as ``berth``; it is
written with the change it describes, so a change rolled back leaves no entry (real Postgres)."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from berth_api.audit_log import PLATFORM, audit
from berth_api.scopes import Principal, Scope

pytestmark = pytest.mark.integration


async def entries(pool: asyncpg.Pool, action: str) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM audit_log WHERE action = $1 ORDER BY id", action)


async def test_a_token_is_named_with_its_id_and_the_platform_as_berth(pool: asyncpg.Pool) -> None:
    action = f"test.{uuid.uuid4().hex[:8]}"
    who = Principal(token_id=uuid.uuid4(), name="ci-deploy", scope=Scope.DEPLOY)
    app_id = uuid.uuid4()
    async with pool.acquire() as conn:
        await audit(conn, who, action, app_id, {"keys": ["DATABASE_URL"]})
        await audit(conn, PLATFORM, action, None, {})
    token_entry, platform_entry = await entries(pool, action)
    assert (token_entry["actor"], token_entry["token_id"], token_entry["app_id"]) == ("ci-deploy", who.token_id, app_id)
    assert token_entry["detail"] in ('{"keys": ["DATABASE_URL"]}', {"keys": ["DATABASE_URL"]})
    assert (platform_entry["actor"], platform_entry["token_id"], platform_entry["app_id"]) == ("berth", None, None)


async def test_an_entry_goes_with_its_change(pool: asyncpg.Pool) -> None:
    action = f"test.{uuid.uuid4().hex[:8]}"
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await audit(conn, PLATFORM, action, None, {})
                raise RuntimeError("the change failed")
    assert await entries(pool, action) == []
