"""Apps and releases in the ``api`` schema: the desired state. Every change that others must
hear about writes its bus message to the outbox in the same transaction."""

from __future__ import annotations

import ipaddress
import json
import uuid

import asyncpg
from berth_shared.contracts.apps import AppCreated, AppDeleted, app_event_subject
from berth_shared.contracts.releases import ReconcileApp, reconcile_subject
from berth_shared.db import Connection
from berth_shared.errors import Conflict, NotFound
from berth_shared.netplan import first_free_subnet

from berth_api.outbox import enqueue
from berth_api.validation import CreateApp

ACTIVE_RELEASE_STATES = ("pending", "starting")


def hostname_of(name: str, domain: str) -> str:
    return f"{name}.{domain}"


async def find_app(conn: Connection | asyncpg.Pool, ref: str, *, for_update: bool = False) -> asyncpg.Record:
    """An app that is not deleted, by id or by name; NotFound otherwise."""
    lock = " FOR UPDATE" if for_update else ""
    try:
        app_id = uuid.UUID(ref)
    except ValueError:
        row = await conn.fetchrow(f"SELECT * FROM apps WHERE name = $1 AND deleted_at IS NULL{lock}", ref)
    else:
        row = await conn.fetchrow(f"SELECT * FROM apps WHERE id = $1 AND deleted_at IS NULL{lock}", app_id)
    if row is None:
        raise NotFound(f"app {ref!r} not found")
    return row


async def create_app(conn: Connection, body: CreateApp, pool_net: ipaddress.IPv4Network, domain: str) -> asyncpg.Record:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('api.apps.allocate'))")
        if await conn.fetchval("SELECT 1 FROM apps WHERE name = $1 AND deleted_at IS NULL", body.name):
            raise Conflict(f"an app named {body.name!r} already exists")
        taken = [str(r["subnet"]) for r in await conn.fetch("SELECT subnet FROM apps")]
        subnet = first_free_subnet(pool_net, taken)
        if subnet is None:
            raise Conflict(f"no free subnet left in BERTH_SUBNET_POOL {pool_net}; delete an app or widen the pool")
        row = await conn.fetchrow(
            "INSERT INTO apps (id, name, port, memory_mb, cpus, subnet) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
            uuid.uuid4(),
            body.name,
            body.port,
            body.resources.memory_mb,
            body.resources.cpus,
            subnet,
        )
        assert row is not None
        app_id = str(row["id"])
        await enqueue(
            conn,
            app_event_subject("created", app_id),
            AppCreated(
                app_id=app_id,
                name=row["name"],
                hostname=hostname_of(row["name"], domain),
                port=row["port"],
                subnet=str(row["subnet"]),
                health_path=row["health_path"],
            ),
        )
        await audit(conn, "admin", "app.create", row["id"], {"name": body.name})
        return row  # type: ignore[no-any-return]


async def delete_app(conn: Connection, ref: str, domain: str, host: str) -> asyncpg.Record:
    async with conn.transaction():
        app = await find_app(conn, ref, for_update=True)
        row = await conn.fetchrow(
            "UPDATE apps SET deleted_at = now(), status = 'stopped', generation = generation + 1 "
            "WHERE id = $1 RETURNING *",
            app["id"],
        )
        assert row is not None
        app_id = str(app["id"])
        await enqueue(
            conn,
            app_event_subject("deleted", app_id),
            AppDeleted(
                app_id=app_id, name=app["name"], hostname=hostname_of(app["name"], domain), subnet=str(app["subnet"])
            ),
        )
        await enqueue(conn, reconcile_subject(host), ReconcileApp(app_id=app_id, reason="app deleted"))
        await audit(conn, "admin", "app.delete", app["id"], {"name": app["name"]})
        return row  # type: ignore[no-any-return]


async def create_release(
    conn: Connection, ref: str, image: str, kind: str, host: str
) -> tuple[asyncpg.Record, asyncpg.Record]:
    """A new release that becomes the app's desired one. Releases queued behind the one in
    flight and not started yet are superseded: the newest request wins (coalescing queue)."""
    async with conn.transaction():
        app = await find_app(conn, ref, for_update=True)
        version = await conn.fetchval("SELECT coalesce(max(version), 0) + 1 FROM releases WHERE app_id = $1", app["id"])
        await conn.execute(
            "UPDATE releases SET status = 'superseded', reason = 'a newer release was requested before it started', "
            "finished_at = now() WHERE app_id = $1 AND status = 'pending'",
            app["id"],
        )
        release = await conn.fetchrow(
            "INSERT INTO releases (id, app_id, version, kind, image) VALUES ($1, $2, $3, $4, $5) RETURNING *",
            uuid.uuid4(),
            app["id"],
            version,
            kind,
            image,
        )
        assert release is not None
        updated = await conn.fetchrow(
            "UPDATE apps SET desired_release_id = $2, status = 'deploying', status_reason = NULL, "
            "generation = generation + 1 WHERE id = $1 RETURNING *",
            app["id"],
            release["id"],
        )
        assert updated is not None
        await enqueue(conn, reconcile_subject(host), ReconcileApp(app_id=str(app["id"]), reason=f"{kind} v{version}"))
        await audit(conn, "admin", f"release.{kind}", app["id"], {"image": image, "version": version})
        return updated, release


async def current_release(conn: Connection | asyncpg.Pool, app: asyncpg.Record) -> asyncpg.Record | None:
    if app["current_release_id"] is None:
        return None
    return await conn.fetchrow("SELECT * FROM releases WHERE id = $1", app["current_release_id"])


async def audit(conn: Connection, actor: str, action: str, app_id: uuid.UUID | None, detail: dict[str, object]) -> None:

    await conn.execute(
        "INSERT INTO audit_log (actor, action, app_id, detail) VALUES ($1, $2, $3, $4::jsonb)",
        actor,
        action,
        app_id,
        json.dumps(detail),
    )
