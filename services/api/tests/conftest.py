"""Fixtures of the API's integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from berth_api.migrations import MIGRATIONS
from berth_shared import db


@pytest.fixture(scope="module")
async def pool(infra: Any) -> AsyncIterator[asyncpg.Pool]:
    """The API's schema, migrated, as the API's Postgres role."""
    p = await db.create_pool(infra.service_database_url("api"), "api")
    await db.migrate(p, "api", MIGRATIONS)
    yield p
    await p.close()
