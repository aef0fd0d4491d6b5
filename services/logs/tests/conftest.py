"""Fixtures of the logs tests; helpers that compare pages live in ``log_pages``."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from berth_cli.launcher.platform import Platform
from berth_logs.migrations import MIGRATIONS
from berth_shared.db import create_pool, migrate

sys.path.insert(0, str(Path(__file__).parent))  # --import-mode=importlib: make log_pages importable


@pytest.fixture(scope="module")
async def pool(infra: Platform) -> AsyncIterator[asyncpg.Pool]:
    """The logs schema, migrated, as the logs service's role (no service running)."""
    pool = await create_pool(infra.service_database_url("logs"), "logs")
    await migrate(pool, "logs", MIGRATIONS)
    try:
        yield pool
    finally:
        await pool.close()
