"""Provisioning SQL gives each service role sole ownership of its schema."""

from __future__ import annotations

from berth_cli.launcher.postgres import provision_sql


def test_role_owns_schema_and_searches_it() -> None:
    sql = "\n".join(provision_sql("router", "router", "s3cret"))
    assert 'CREATE SCHEMA IF NOT EXISTS "router" AUTHORIZATION "router"' in sql
    assert 'ALTER ROLE "router" SET search_path = "router"' in sql
    assert "NOSUPERUSER NOCREATEDB NOCREATEROLE" in sql


def test_password_quotes_are_escaped() -> None:
    sql = "\n".join(provision_sql("api", "api", "it's"))
    assert "PASSWORD 'it''s'" in sql
