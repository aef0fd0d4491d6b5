"""Apps and releases in the ``api`` schema: the desired state. Every change that others must
hear about writes its bus message to the outbox in the same transaction."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Collection

import asyncpg
import msgspec
from berth_shared.contracts.apps import AppCreated, AppDeleted, AppUpdated, app_event_subject
from berth_shared.contracts.health import HealthCheck
from berth_shared.contracts.processes import Formation, with_counts
from berth_shared.contracts.releases import ReconcileApp, RestartInPlace, reconcile_subject, restart_subject
from berth_shared.db import Connection
from berth_shared.errors import Conflict, NotFound, ValidationFailed
from berth_shared.netplan import first_free_subnet

from berth_api import app_status, app_status_store, release_formation
from berth_api.audit_log import PLATFORM, Actor, audit
from berth_api.config_problems import Style
from berth_api.formation import check_fits
from berth_api.outbox import enqueue
from berth_api.validation import APP_NAME, CreateApp, UpdateApp

ACTIVE_RELEASE_STATES = ("pending", "starting")


def hostname_of(name: str, domain: str) -> str:
    return f"{name}.{domain}"


async def find_app(conn: Connection | asyncpg.Pool, ref: str, *, for_update: bool = False) -> asyncpg.Record:
    """An app that is not deleted, by id or by name; NotFound otherwise."""
    lock = " FOR UPDATE" if for_update else ""
    try:
        app_id = uuid.UUID(ref)
    except ValueError:
        if not APP_NAME.fullmatch(ref):  # no app is named so; never hand Postgres a NUL byte
            raise NotFound(f"app {ref!r} not found") from None
        row = await conn.fetchrow(f"SELECT * FROM apps WHERE name = $1 AND deleted_at IS NULL{lock}", ref)
    else:
        row = await conn.fetchrow(f"SELECT * FROM apps WHERE id = $1 AND deleted_at IS NULL{lock}", app_id)
    if row is None:
        raise NotFound(f"app {ref!r} not found")
    return row


async def create_app(
    conn: Connection, body: CreateApp, pool_net: ipaddress.IPv4Network, domain: str, *, actor: Actor = PLATFORM
) -> asyncpg.Record:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('api.apps.allocate'))")
        if await conn.fetchval("SELECT 1 FROM apps WHERE name = $1 AND deleted_at IS NULL", body.name):
            raise Conflict(f"an app named {body.name!r} already exists")
        taken = [str(r["subnet"]) for r in await conn.fetch("SELECT subnet FROM apps")]
        subnet = first_free_subnet(pool_net, taken)
        if subnet is None:
            raise Conflict(f"no free subnet left in BERTH_SUBNET_POOL {pool_net}; delete an app or widen the pool")
        check = body.health_check.to_contract() if body.health_check is not None else None
        row = await conn.fetchrow(
            "INSERT INTO apps (id, name, port, memory_mb, cpus, subnet, deploy_timeout_seconds, stop_timeout_seconds, "
            "health_check, health_path) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10) RETURNING *",
            uuid.uuid4(),
            body.name,
            body.port,
            body.resources.memory_mb,
            body.resources.cpus,
            subnet,
            body.deploy_timeout_seconds,
            body.stop_timeout_seconds,
            encode_check(check),
            check.path if check else "/",
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
                health_check=health_check_of(row),
            ),
        )
        await audit(conn, actor, "app.create", row["id"], {"name": body.name})
        return row  # type: ignore[no-any-return]


async def delete_app(conn: Connection, ref: str, domain: str, host: str, *, actor: Actor = PLATFORM) -> asyncpg.Record:
    async with conn.transaction():
        app = await find_app(conn, ref, for_update=True)
        await conn.execute("UPDATE apps SET deleted_at = now(), generation = generation + 1 WHERE id = $1", app["id"])
        row = await app_status_store.move(conn, app, app_status.Deleted())
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
        await audit(conn, actor, "app.delete", app["id"], {"name": app["name"]})
        return row


async def create_release(
    conn: Connection,
    ref: str,
    image: str,
    kind: str,
    host: str,
    *,
    rollback_of: uuid.UUID | None = None,
    actor: Actor = PLATFORM,
    formation: Formation | None = None,
    sections: Collection[str] = (),
    style: Style = "json",
) -> tuple[asyncpg.Record, asyncpg.Record]:
    """A new release that becomes the app's desired one. Releases queued behind the one in
    flight and not started yet are superseded: the newest request wins (coalescing queue).

    It records its whole formation (ADR 0026): the ``sections`` of ``formation`` the request
    states replace the previous release's, the rest carries over, and the counts a scale stored
    on the app are folded in and cleared; a rollback restores its target's formation. A stated
    formation that does not fit the app's network is refused (422 on ``processes``)."""
    async with conn.transaction():
        app = await find_app(conn, ref, for_update=True)
        recorded = await _formation_for(conn, app, rollback_of, formation, sections)
        if sections:
            check_fits(recorded or Formation(), str(app["subnet"]), style=style)
        version = await conn.fetchval("SELECT coalesce(max(version), 0) + 1 FROM releases WHERE app_id = $1", app["id"])
        await conn.execute(
            "UPDATE releases SET status = 'superseded', reason = 'a newer release was requested before it started', "
            "finished_at = now() WHERE app_id = $1 AND status = 'pending'",
            app["id"],
        )
        release = await conn.fetchrow(
            "INSERT INTO releases (id, app_id, version, kind, image, rollback_of, formation) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) RETURNING *",
            uuid.uuid4(),
            app["id"],
            version,
            kind,
            image,
            rollback_of,
            release_formation.encode(recorded),
        )
        assert release is not None
        await conn.execute(
            "UPDATE apps SET desired_release_id = $2, process_counts = '{}', generation = generation + 1 WHERE id = $1",
            app["id"],
            release["id"],
        )
        updated = await app_status_store.move(conn, app, app_status.ReleaseRequested())
        assert updated is not None
        command = ReconcileApp(app_id=str(app["id"]), reason=f"{kind} v{version}", release_id=str(release["id"]))
        await enqueue(conn, reconcile_subject(host), command, release_id=release["id"])
        await audit(conn, actor, f"release.{kind}", app["id"], {"image": image, "version": version})
        return updated, release


async def _formation_for(
    conn: Connection,
    app: asyncpg.Record,
    rollback_of: uuid.UUID | None,
    given: Formation | None,
    sections: Collection[str],
) -> Formation | None:
    if rollback_of is not None:
        target = await conn.fetchval("SELECT formation FROM releases WHERE id = $1", rollback_of)
        return release_formation.decode(target)
    previous = await release_formation_of(conn, app)
    counts = release_formation.decode_counts(app["process_counts"])
    return release_formation.next_formation(previous, given, sections, counts)


async def release_formation_of(conn: Connection | asyncpg.Pool, app: asyncpg.Record) -> Formation | None:
    """The formation of the app's newest release (desired, else live); None: none recorded."""
    raw = await conn.fetchval(
        "SELECT formation FROM releases WHERE id = coalesce($1::uuid, $2::uuid)",
        app["desired_release_id"],
        app["current_release_id"],
    )
    return release_formation.decode(raw)


async def set_formation(
    conn: Connection,
    ref: str,
    formation: Formation,
    sections: Collection[str],
    host: str,
    *,
    actor: Actor = PLATFORM,
) -> asyncpg.Record:
    """``PUT formation``: a ``config`` release of the live image with the stated sections
    replaced. Conflict when nothing was deployed yet (there is no image to run them from)."""
    async with conn.transaction():
        app = await find_app(conn, ref, for_update=True)
        current = await current_release(conn, app)
        if current is None:
            raise Conflict(f"app {app['name']!r} has no live release; deploy an image first, then set its formation")
        _, release = await create_release(
            conn, str(app["id"]), pinned_image(current), "config", host, actor=actor,
            formation=formation, sections=sections,
        )  # fmt: skip
        await audit(conn, actor, "app.formation", app["id"], {"sections": sorted(sections)})
        return release


async def scale_process(
    conn: Connection, ref: str, name: str, count: int, host: str, *, actor: Actor = PLATFORM
) -> asyncpg.Record:
    """``PATCH processes/{name}``: store the count on the app (over the release's, until the
    next release folds it in) and tell the agent to reconcile; no release. 404 for a process the
    release lacks, 422 on ``count`` when the formation would not fit the app's network."""
    async with conn.transaction():
        app = await find_app(conn, ref, for_update=True)
        if app["desired_release_id"] is None and app["current_release_id"] is None:
            raise Conflict(f"app {app['name']!r} has no release to scale; deploy an image first")
        formation = await release_formation_of(conn, app)
        counts = release_formation.decode_counts(app["process_counts"])
        new_counts = release_formation.scaled_counts(formation, counts, name, count)
        if new_counts == counts:
            return app
        try:
            check_fits(with_counts(formation, new_counts), str(app["subnet"]), style="json")
        except ValidationFailed as exc:
            raise ValidationFailed.on("count", "; ".join(d.message for d in exc.details)) from None
        row = await conn.fetchrow(
            "UPDATE apps SET process_counts = $2::jsonb, generation = generation + 1 WHERE id = $1 RETURNING *",
            app["id"],
            msgspec.json.encode(new_counts).decode(),
        )
        assert row is not None
        command = ReconcileApp(app_id=str(app["id"]), reason=f"scale {name}={count}")
        await enqueue(conn, reconcile_subject(host), command)
        await audit(conn, actor, "process.scale", app["id"], {"process": name, "count": count})
        return row  # type: ignore[no-any-return]


async def update_app(
    conn: Connection, ref: str, body: UpdateApp, domain: str, host: str, *, actor: Actor = PLATFORM
) -> asyncpg.Record:
    """Change settings. A port or resources change of a running app rolls out as a new release
    (a health-gated flip); timeouts apply from the next rollout."""
    async with conn.transaction():
        app = await find_app(conn, ref, for_update=True)
        changes: dict[str, object] = {}
        if body.port is not None and body.port != app["port"]:
            changes["port"] = body.port
        if body.resources is not None:
            if body.resources.memory_mb != app["memory_mb"]:
                changes["memory_mb"] = body.resources.memory_mb
            if float(body.resources.cpus) != float(app["cpus"]):
                changes["cpus"] = body.resources.cpus
        if body.deploy_timeout_seconds is not None:
            changes["deploy_timeout_seconds"] = body.deploy_timeout_seconds
        if body.stop_timeout_seconds is not None:
            changes["stop_timeout_seconds"] = body.stop_timeout_seconds
        if not changes:
            return app
        assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(changes, start=2))
        row = await conn.fetchrow(
            f"UPDATE apps SET {assignments}, generation = generation + 1 WHERE id = $1 RETURNING *",
            app["id"],
            *changes.values(),
        )
        assert row is not None
        app_id = str(row["id"])
        await audit(conn, actor, "app.update", row["id"], {"changed": sorted(changes)})
        if "port" in changes:
            await publish_app_updated(conn, row, domain)
        rolls_out = {"port", "memory_mb", "cpus"} & changes.keys()
        current = await current_release(conn, row)
        if rolls_out and current is not None:
            row, _ = await create_release(conn, app_id, pinned_image(current), "config", host, actor=actor)
        return row


def app_updated(row: asyncpg.Record, domain: str, domains: list[str] | None = None) -> AppUpdated:
    """The AppUpdated event describing ``row`` as it is now (``domains``: its attached hostnames)."""
    app_id = str(row["id"])
    return AppUpdated(
        app_id=app_id,
        name=row["name"],
        hostname=hostname_of(row["name"], domain),
        port=row["port"],
        subnet=str(row["subnet"]),
        health_path=row["health_path"],
        health_check=health_check_of(row),
        domains=list(domains or []),
    )


async def publish_app_updated(conn: Connection, row: asyncpg.Record, domain: str) -> None:
    hosts = [r["hostname"] for r in await conn.fetch("SELECT hostname FROM domains WHERE app_id = $1", row["id"])]
    await enqueue(conn, app_event_subject("updated", str(row["id"])), app_updated(row, domain, sorted(hosts)))


def encode_check(check: HealthCheck | None) -> str | None:
    return msgspec.json.encode(check).decode() if check is not None else None


def health_check_of(app: asyncpg.Record) -> HealthCheck | None:
    """The app's stored check definition; None: no check configured (liveness only)."""
    raw = app.get("health_check")
    if raw is None:
        return None
    return msgspec.json.decode(raw.encode() if isinstance(raw, str) else raw, type=HealthCheck)


async def set_health_check(
    conn: Connection, ref: str, check: HealthCheck | None, domain: str, *, actor: Actor = PLATFORM
) -> asyncpg.Record:
    """Store the app's check (None: remove it) and tell the health service and the router
    (``AppUpdated``); the agent reads it from the desired state at the next rollout."""
    async with conn.transaction():
        app = await find_app(conn, ref, for_update=True)
        row = await conn.fetchrow(
            "UPDATE apps SET health_check = $2::jsonb, health_path = $3, generation = generation + 1 "
            "WHERE id = $1 RETURNING *",
            app["id"],
            encode_check(check),
            check.path if check else "/",
        )
        assert row is not None
        await publish_app_updated(conn, row, domain)
        await audit(conn, actor, "app.health_check", row["id"], {"check": msgspec.to_builtins(check)})
        return row  # type: ignore[no-any-return]


async def rollback(
    conn: Connection, ref: str, release_id: str | None, host: str, *, actor: Actor = PLATFORM
) -> asyncpg.Record:
    """Deploy the image digest of an earlier release again, as a new release. Default target:
    the most recent earlier live release with a different image (the deploy before this one).
    The current one is marked rolled back."""
    async with conn.transaction():
        app = await find_app(conn, ref, for_update=True)
        target = await _rollback_target(conn, app, release_id)
        if app["current_release_id"] is not None:
            await conn.execute(
                "UPDATE releases SET rolled_back_at = now() WHERE id = $1 AND rolled_back_at IS NULL",
                app["current_release_id"],
            )
        _, release = await create_release(
            conn, str(app["id"]), pinned_image(target), "rollback", host, rollback_of=target["id"], actor=actor
        )
        return release


async def restart_in_place(conn: Connection, ref: str, host: str, *, actor: Actor = PLATFORM) -> asyncpg.Record:
    async with conn.transaction():
        app = await find_app(conn, ref, for_update=True)
        current = await current_release(conn, app)
        if current is None:
            raise Conflict(f"app {app['name']!r} has no live release to restart; deploy an image first")
        await enqueue(conn, restart_subject(host), RestartInPlace(app_id=str(app["id"]), release_id=str(current["id"])))
        await audit(conn, actor, "release.restart_in_place", app["id"], {"version": current["version"]})
        return current


async def keep_images(conn: Connection | asyncpg.Pool, app_id: uuid.UUID, count: int = 5) -> list[str]:
    """Never pruned: the app's last ``count`` *distinct* images that went live (by digest when
    known; restarts of one image count once, so every rollback target stays on the host), and
    the images of releases still pending or starting."""
    rows = await conn.fetch(
        "SELECT ref FROM (SELECT coalesce(image_digest, image) AS ref, max(live_at) AS last_live FROM releases "
        "WHERE app_id = $1 AND live_at IS NOT NULL GROUP BY 1 ORDER BY last_live DESC LIMIT $2) live "
        "UNION SELECT coalesce(image_digest, image) FROM releases WHERE app_id = $1 AND status = ANY($3::text[])",
        app_id,
        count,
        list(ACTIVE_RELEASE_STATES),
    )
    return sorted(r["ref"] for r in rows)


async def source_of(conn: Connection | asyncpg.Pool, app_id: uuid.UUID, image: str) -> tuple[str, int]:
    """For an image re-run by id: the name and version it was deployed as (latest first), for
    messages; ``("", 0)`` when no release named it."""
    row = await conn.fetchrow(
        "SELECT image, version FROM releases WHERE app_id = $1 AND (image_digest = $2 OR image = $2) "
        "ORDER BY (image LIKE 'sha256:%'), version DESC LIMIT 1",
        app_id,
        image,
    )
    return (str(row["image"]), int(row["version"])) if row else ("", 0)


async def rollback_target(conn: Connection | asyncpg.Pool, ref: str, release_id: str | None) -> asyncpg.Record:
    """The release a rollback would re-run (see :func:`rollback`), without changing anything."""
    return await _rollback_target(conn, await find_app(conn, ref), release_id)


async def _rollback_target(
    conn: Connection | asyncpg.Pool, app: asyncpg.Record, release_id: str | None
) -> asyncpg.Record:
    if release_id is None:
        # Restarts and config changes re-run the same image: skip them to undo the last deploy.
        target = await conn.fetchrow(
            "SELECT r.* FROM releases r WHERE r.app_id = $1 AND r.live_at IS NOT NULL AND r.id IS DISTINCT FROM $2 "
            "AND coalesce(r.image_digest, r.image) IS DISTINCT FROM "
            "(SELECT coalesce(image_digest, image) FROM releases WHERE id = $2) "
            "ORDER BY r.live_at DESC LIMIT 1",
            app["id"],
            app["current_release_id"],
        )
        if target is None:
            raise Conflict(f"app {app['name']!r} has no earlier live release to roll back to")
        return target
    try:
        target_id = uuid.UUID(release_id)
    except ValueError:
        raise ValidationFailed.on("releaseId", "must be a release id") from None
    target = await conn.fetchrow("SELECT * FROM releases WHERE id = $1 AND app_id = $2", target_id, app["id"])
    if target is None:
        raise NotFound(f"release {release_id!r} of app {app['name']!r} not found")
    if target["live_at"] is None:
        raise Conflict(f"release v{target['version']} never went live; roll back to one that did")
    return target


def pinned_image(release: asyncpg.Record) -> str:
    """What a restart, config change or rollback re-runs: the release's resolved digest, so a
    tag moved since cannot change the bytes (the tag only until the agent reported a digest)."""
    return str(release["image_digest"] or release["image"])


async def current_release(conn: Connection | asyncpg.Pool, app: asyncpg.Record) -> asyncpg.Record | None:
    if app["current_release_id"] is None:
        return None
    return await conn.fetchrow("SELECT * FROM releases WHERE id = $1", app["current_release_id"])
