"""Custom domains of apps in the ``api`` schema. Every change re-publishes ``AppUpdated`` with the
app's full list of hostnames (in the same transaction, through the outbox), so the router can
re-render Caddy's config; deploys never touch domains.

Verification and TLS state come from the router (``DomainStatusChanged``, see
``berth_api.domain_events``): it checks each name, lets Caddy obtain its certificate and says so.
"""

from __future__ import annotations

import uuid

import asyncpg
from berth_shared.db import Connection
from berth_shared.errors import Conflict, NotFound

from berth_api.apps_store import find_app, hostname_of, publish_app_updated
from berth_api.audit_log import PLATFORM, Actor, audit


def claim_problem(hostname: str, app_name: str, domain: str) -> str | None:
    """Why ``hostname`` may not be attached to ``app_name`` under the platform's ``domain`` (pure)."""
    own = hostname_of(app_name, domain)
    if hostname == own:
        return f"{hostname} is already the app's generated hostname"
    if hostname == domain:
        return f"{hostname} is the platform's own hostname (BERTH_DOMAIN)"
    if hostname.endswith(f".{domain}") and not hostname.endswith(f".{own}"):
        return f"{hostname} is under BERTH_DOMAIN {domain}; only names under the app's own {own} may be attached"
    return None


async def domains_of(conn: Connection | asyncpg.Pool, app_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT * FROM domains WHERE app_id = $1 ORDER BY hostname", app_id))


async def add_domain(
    conn: Connection, ref: str, hostname: str, domain: str, *, actor: Actor = PLATFORM
) -> asyncpg.Record:
    async with conn.transaction():
        app = await find_app(conn, ref, for_update=True)
        problem = claim_problem(hostname, app["name"], domain)
        if problem:
            raise Conflict(problem)
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('api.domains.claim'))")
        # A hostname of a deleted app is free again.
        await conn.execute(
            "DELETE FROM domains d USING apps a WHERE d.app_id = a.id AND a.deleted_at IS NOT NULL AND d.hostname = $1",
            hostname,
        )
        owner = await conn.fetchrow(
            "SELECT a.name FROM domains d JOIN apps a ON a.id = d.app_id WHERE d.hostname = $1", hostname
        )
        if owner is not None:
            where = "this app" if owner["name"] == app["name"] else f"app {owner['name']!r}"
            raise Conflict(f"{hostname} is already attached to {where}")
        row = await conn.fetchrow(
            "INSERT INTO domains (id, app_id, hostname) VALUES ($1, $2, $3) RETURNING *",
            uuid.uuid4(),
            app["id"],
            hostname,
        )
        assert row is not None
        await publish_app_updated(conn, app, domain)
        await audit(conn, actor, "domain.add", app["id"], {"hostname": hostname})
        return row  # type: ignore[no-any-return]


async def remove_domain(
    conn: Connection, ref: str, domain_ref: str, domain: str, *, actor: Actor = PLATFORM
) -> asyncpg.Record:
    """Detach by domain id or by hostname."""
    async with conn.transaction():
        app = await find_app(conn, ref, for_update=True)
        try:
            row = await conn.fetchrow(
                "DELETE FROM domains WHERE app_id = $1 AND id = $2 RETURNING *", app["id"], uuid.UUID(domain_ref)
            )
        except ValueError:
            row = await conn.fetchrow(
                "DELETE FROM domains WHERE app_id = $1 AND hostname = $2 RETURNING *",
                app["id"],
                domain_ref.strip().lower().removesuffix("."),
            )
        if row is None:
            raise NotFound(f"domain {domain_ref!r} of app {app['name']!r} not found")
        await publish_app_updated(conn, app, domain)
        await audit(conn, actor, "domain.remove", app["id"], {"hostname": row["hostname"]})
        return row  # type: ignore[no-any-return]
