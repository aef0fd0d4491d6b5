"""Provisioning SQL gives each service role sole ownership of its schema; the server runs small."""

from __future__ import annotations

import pytest
from berth_cli.launcher.platform import Platform
from berth_cli.launcher.postgres import provision_sql, psql


def test_role_owns_schema_and_searches_it() -> None:
    sql = "\n".join(provision_sql("router", "router", "s3cret"))
    assert 'CREATE SCHEMA IF NOT EXISTS "router" AUTHORIZATION "router"' in sql
    assert 'ALTER ROLE "router" SET search_path = "router"' in sql
    assert "NOSUPERUSER NOCREATEDB NOCREATEROLE" in sql


def test_password_quotes_are_escaped() -> None:
    sql = "\n".join(provision_sql("api", "api", "it's"))
    assert "PASSWORD 'it''s'" in sql


@pytest.mark.integration
async def test_postgres_runs_no_logical_replication_launcher(infra: Platform) -> None:
    """Berth subscribes to no publication: the launcher's Postgres starts no process for it (each
    Postgres process is resident memory of the platform)."""
    out = await psql(infra.admin_database_url(), "SELECT backend_type FROM pg_stat_activity")
    kinds = set(out.splitlines())
    assert "checkpointer" in kinds  # the view lists the server's own processes
    assert "logical replication launcher" not in kinds
