"""Answers the runtime agent's desired-state queries from the ``api`` schema."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg
import msgspec
from berth_shared.contracts.base import decode
from berth_shared.contracts.builds import BuildSpec
from berth_shared.contracts.desired import (
    DesiredApp,
    DesiredListReply,
    DesiredRelease,
    DesiredReply,
    GetDesired,
    ListDesired,
    Resources,
)
from berth_shared.contracts.releases import ReleaseFailed
from berth_shared.errors import ValidationFailed
from berth_shared.image_refs import is_image_id
from berth_shared.sealing import SealingError, check_public_key, seal_env

from berth_api import apps_store, env_store, release_formation, releases_store
from berth_api.keyring import Keychain

log = logging.getLogger("berth.api.desired")


def desired_app(
    app: asyncpg.Record,
    release: asyncpg.Record | None,
    domain: str,
    keep_images: list[str] | None = None,
    *,
    env: dict[str, str] | None = None,
    seal_to: str | None = None,
    source: tuple[str, int] = ("", 0),
) -> DesiredApp:
    """The app as the agent should run it. The environment travels only sealed to the agent's
    key ``seal_to``; the plaintext ``env`` field is never filled."""
    return DesiredApp(
        app_id=str(app["id"]),
        name=app["name"],
        hostname=f"{app['name']}.{domain}",
        port=app["port"],
        subnet=str(app["subnet"]),
        resources=Resources(memory_mb=app["memory_mb"], cpus=float(app["cpus"])),
        health_path=app["health_path"],
        health_check=apps_store.health_check_of(app),
        deleted=app["deleted_at"] is not None,
        release=None
        if release is None or app["deleted_at"] is not None
        else DesiredRelease(
            release_id=str(release["id"]),
            image=release["image"],
            sealed_env=seal_env(env or {}, seal_to, str(app["id"]), str(release["id"])) if seal_to else None,
            status=release["status"],
            deadline_seconds=app["deploy_timeout_seconds"],
            stop_timeout_seconds=app["stop_timeout_seconds"],
            build=msgspec.json.decode(release["build"], type=BuildSpec) if release.get("build") else None,
            source_image=source[0],
            source_version=source[1],
            **_formation_fields(app, release),
        ),
        generation=app["generation"],
        keep_images=keep_images or [],
    )


def _formation_fields(app: asyncpg.Record, release: asyncpg.Record) -> dict[str, Any]:
    """``processes`` (the release's, with the counts a scale stored on the app since) and the
    ``release_command`` (only for releases that change code, formation or env; ADR 0026)."""
    formation = release_formation.decode(release.get("formation"))
    counts = release_formation.decode_counts(app.get("process_counts"))
    return {
        "processes": release_formation.effective_processes(formation, counts),
        "release_command": release_formation.release_command_for(release.get("kind", ""), formation),
    }


async def _release(pool: asyncpg.Pool, app: asyncpg.Record) -> asyncpg.Record | None:
    if app["desired_release_id"] is None:
        return None
    return await pool.fetchrow("SELECT * FROM releases WHERE id = $1", app["desired_release_id"])


def _seal_key(seal_to: str | None) -> str:
    """The agent's public key from a query; a query without a usable one gets no state at all
    (the API never answers with values in clear, nor with an environment left out)."""
    if not seal_to:
        raise ValidationFailed.on("seal_to", "desired-state queries must carry the agent's public key")
    try:
        check_public_key(seal_to)
    except SealingError as exc:
        raise ValidationFailed.on("seal_to", str(exc)) from None
    return seal_to


async def _build(
    pool: asyncpg.Pool, app: asyncpg.Record, domain: str, chain: Keychain | None, seal_to: str
) -> DesiredApp | None:
    """The app's desired state with its full decrypted environment, or None when it must be
    withheld. A value that does not decrypt never yields a partial environment: the release in
    flight fails with the reason (naming the key), and the previous live release is not
    described at all (the agent leaves what runs untouched), because describing it would need
    the same values. With nothing live, the app is described with no release."""
    release = await _release(pool, app)
    keep = await apps_store.keep_images(pool, app["id"])
    if release is None or app["deleted_at"] is not None:
        return desired_app(app, release, domain, keep)
    try:
        env = await env_store.decrypt_all(pool, chain.ring if chain else None, app["id"])
    except env_store.UndecryptableEnv as exc:
        reason = exc.message
    else:
        source = (
            await apps_store.source_of(pool, app["id"], release["image"]) if is_image_id(release["image"]) else None
        )
        return desired_app(app, release, domain, keep, env=env, seal_to=seal_to, source=source or ("", 0))
    log.error("app %s: %s", app["name"], reason)
    if release["status"] in apps_store.ACTIVE_RELEASE_STATES:
        event = ReleaseFailed(app_id=str(app["id"]), release_id=str(release["id"]), reason=reason)
        async with pool.acquire() as conn, conn.transaction():
            await releases_store.fail(conn, event)
        log.error("app %s: release v%s failed: %s", app["name"], release["version"], reason)
        after = await pool.fetchrow("SELECT * FROM apps WHERE id = $1", app["id"])
        if after is not None and after["desired_release_id"] is None:
            return desired_app(after, None, domain, keep)
    return None


async def get(pool: asyncpg.Pool, data: bytes, domain: str, chain: Keychain | None = None) -> DesiredReply:
    request = decode(data, GetDesired)
    seal_to = _seal_key(request.seal_to)
    try:
        app_id = uuid.UUID(request.app_id)
    except ValueError:
        return DesiredReply(app=None)
    app = await pool.fetchrow("SELECT * FROM apps WHERE id = $1", app_id)
    if app is None:
        return DesiredReply(app=None)
    built = await _build(pool, app, domain, chain, seal_to)
    if built is None:
        raise env_store.Withheld(
            f"desired state of app {app['name']!r} withheld: its environment cannot be decrypted "
            f"(see `GET /api/apps/{app['name']}/releases`); the running release is left as it is"
        )
    return DesiredReply(app=built)


async def list_all(pool: asyncpg.Pool, data: bytes, domain: str, chain: Keychain | None = None) -> DesiredListReply:
    """Every app whose desired state can be stated in full. An app withheld here is still
    reconciled by the agent when it finds its containers; its own query answers with an error,
    and the agent then leaves it untouched."""
    seal_to = _seal_key(decode(data, ListDesired).seal_to)
    apps = await pool.fetch("SELECT * FROM apps ORDER BY created_at")
    built = [await _build(pool, app, domain, chain, seal_to) for app in apps]
    return DesiredListReply(apps=[b for b in built if b is not None])
