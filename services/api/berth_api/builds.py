"""Builds from source: receive a build context (a tar stream, size-limited), keep it in the
JetStream object store, and create a release whose image the runtime agent builds."""

from __future__ import annotations

import asyncio
import json
import tempfile
import uuid
from collections.abc import AsyncIterator
from io import BufferedIOBase
from typing import IO, cast

import asyncpg
from berth_shared.contracts.builds import BUILDS_BUCKET, MAX_CONTEXT_BYTES, MAX_UNPACKED_CONTEXT_BYTES, BuildSpec
from berth_shared.db import Connection
from berth_shared.errors import BerthError, ValidationFailed
from nats.js import JetStreamContext

from berth_api import apps_store, context_scan, dockerfile_check
from berth_api.app_config import COLUMNS, AppConfig, settings_recorded
from berth_api.audit_log import PLATFORM, Actor, audit


class ContextTooLarge(BerthError):
    code = "payload_too_large"
    http_status = 413


async def spool(body: AsyncIterator[bytes], limit: int = MAX_CONTEXT_BYTES) -> tuple[BufferedIOBase, int]:
    """Write the uploaded stream to a temporary file, refusing it past ``limit`` bytes."""
    spooled = cast(BufferedIOBase, tempfile.TemporaryFile())  # noqa: SIM115 - returned to the caller
    size = 0
    async for chunk in body:
        size += len(chunk)
        if size > limit:
            spooled.close()
            raise ContextTooLarge(
                f"build context larger than {limit // (1024 * 1024)} MiB; "
                "exclude files with .dockerignore (dependencies, build output, .git)"
            )
        spooled.write(chunk)
    if size == 0:
        spooled.close()
        raise ValidationFailed.on("body", "empty build context; send a tar archive of the directory")
    spooled.seek(0)
    return spooled, size


async def check_context(
    spooled: BufferedIOBase, dockerfile: str, unpacked_limit: int = MAX_UNPACKED_CONTEXT_BYTES
) -> None:
    """Refuse a context that unpacks past ``unpacked_limit`` (413) or whose Dockerfile has an
    ``ADD <url>`` (422: the engine would fetch it from the host's network, outside the egress
    rules). Closes ``spooled`` when it refuses; rewinds it otherwise."""
    try:
        summary = await asyncio.to_thread(context_scan.scan, cast(IO[bytes], spooled), dockerfile, unpacked_limit)
        if summary.dockerfile is not None and (remote := dockerfile_check.remote_adds(summary.dockerfile)):
            raise ValidationFailed.on("body", f"{dockerfile} {remote[0].message()}")
    except BaseException:
        spooled.close()
        raise
    spooled.seek(0)


async def store_context(js: JetStreamContext, name: str, data: BufferedIOBase) -> None:
    """Store a build context in the bucket the launcher provisioned (the API may not create it)."""
    store = await js.object_store(BUILDS_BUCKET)
    await store.put(name, data)


def image_tag(app_name: str, app_id: str, version: int) -> str:
    """The tag of a built image: the app (its name, and its id so that a re-created app of the
    same name, or another Berth on the same engine, never shares a tag) and the release."""
    return f"berth-build/{app_name}-{app_id.replace('-', '')[:8]}:v{version}"


async def create_build_release(
    conn: Connection,
    ref: str,
    spec: BuildSpec,
    *,
    config: AppConfig | None,
    host: str,
    domain: str,
    actor: Actor = PLATFORM,
) -> asyncpg.Record:
    """Apply berth.toml's settings, then create a ``build`` release in the same transaction; the
    sections of the formation the file states replace the previous release's (ADR 0026)."""
    async with conn.transaction():
        app = await apps_store.find_app(conn, ref, for_update=True)
        if config is not None:
            await _apply_config(conn, app, config, domain, actor)
        version = await conn.fetchval("SELECT coalesce(max(version), 0) + 1 FROM releases WHERE app_id = $1", app["id"])
        tag = image_tag(app["name"], str(app["id"]), version)
        _, release = await apps_store.create_release(
            conn, str(app["id"]), tag, "build", host, actor=actor,
            formation=config.formation if config else None,
            sections=config.sections if config else (),
            style="toml",
        )  # fmt: skip
        built = await conn.fetchrow(
            "UPDATE releases SET build = $2::jsonb, config = $3::jsonb WHERE id = $1 RETURNING *",
            release["id"],
            json.dumps(
                {
                    "context_object": spec.context_object,
                    "size_bytes": spec.size_bytes,
                    "dockerfile": spec.dockerfile,
                    "timeout_seconds": spec.timeout_seconds,
                    "memory_mb": spec.memory_mb,
                    "cpus": spec.cpus,
                }
            ),
            json.dumps(config.as_json()) if config else None,
        )
        assert built is not None
        return built  # type: ignore[no-any-return]


async def rollback_release(
    conn: Connection, ref: str, release_id: str | None, *, host: str, domain: str, actor: Actor = PLATFORM
) -> asyncpg.Record:
    """A rollback (``apps_store.rollback``: the target's image and formation) that also returns to
    the settings the target's berth.toml stated (port, timeouts, resources, health), in the same
    transaction, and records that file on the new release so a later rollback to it does too."""
    async with conn.transaction():
        release = await apps_store.rollback(conn, ref, release_id, host, actor=actor)
        target = await conn.fetchrow("SELECT config, version FROM releases WHERE id = $1", release["rollback_of"])
        if target is None or target["config"] is None:
            return release
        recorded = target["config"]
        app = await conn.fetchrow("SELECT * FROM apps WHERE id = $1", release["app_id"])
        assert app is not None  # locked by the rollback
        settings = settings_recorded(json.loads(recorded) if isinstance(recorded, str) else recorded)
        await _apply_config(conn, app, settings, domain, actor, source=f"rollback to v{target['version']}")
        updated = await conn.fetchrow(
            "UPDATE releases SET config = $2::jsonb WHERE id = $1 RETURNING *", release["id"], recorded
        )
        assert updated is not None
        return updated  # type: ignore[no-any-return]


async def _apply_config(
    conn: Connection, app: asyncpg.Record, config: AppConfig, domain: str, actor: Actor, *, source: str = "berth.toml"
) -> None:
    if config.health is not None and config.health != apps_store.health_check_of(app):
        app = await apps_store.set_health_check(conn, str(app["id"]), config.health, domain, actor=actor)
    changes = {COLUMNS[k]: v for k, v in config.values.items() if app[COLUMNS[k]] != v}
    if not changes:
        return
    assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(changes, start=2))
    row = await conn.fetchrow(f"UPDATE apps SET {assignments} WHERE id = $1 RETURNING *", app["id"], *changes.values())
    assert row is not None
    await audit(conn, actor, "app.update", row["id"], {"changed": sorted(changes), "from": source})
    if "port" in changes:
        await apps_store.publish_app_updated(conn, row, domain)


def new_context_name() -> str:
    return f"ctx-{uuid.uuid4().hex}"
