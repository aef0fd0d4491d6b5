"""Answers the runtime agent's desired-state queries from the ``api`` schema."""

from __future__ import annotations

import uuid

import asyncpg
from berth_shared.contracts.base import decode
from berth_shared.contracts.desired import (
    DesiredApp,
    DesiredListReply,
    DesiredRelease,
    DesiredReply,
    GetDesired,
    ListDesired,
    Resources,
)

from berth_api import apps_store


def desired_app(
    app: asyncpg.Record, release: asyncpg.Record | None, domain: str, keep_images: list[str] | None = None
) -> DesiredApp:
    return DesiredApp(
        app_id=str(app["id"]),
        name=app["name"],
        hostname=f"{app['name']}.{domain}",
        port=app["port"],
        subnet=str(app["subnet"]),
        resources=Resources(memory_mb=app["memory_mb"], cpus=float(app["cpus"])),
        health_path=app["health_path"],
        deleted=app["deleted_at"] is not None,
        release=None
        if release is None or app["deleted_at"] is not None
        else DesiredRelease(
            release_id=str(release["id"]),
            image=release["image"],
            status=release["status"],
            deadline_seconds=app["deploy_timeout_seconds"],
            stop_timeout_seconds=app["stop_timeout_seconds"],
        ),
        generation=app["generation"],
        keep_images=keep_images or [],
    )


async def _release(pool: asyncpg.Pool, app: asyncpg.Record) -> asyncpg.Record | None:
    if app["desired_release_id"] is None:
        return None
    return await pool.fetchrow("SELECT * FROM releases WHERE id = $1", app["desired_release_id"])


async def get(pool: asyncpg.Pool, data: bytes, domain: str) -> DesiredReply:
    request = decode(data, GetDesired)
    try:
        app_id = uuid.UUID(request.app_id)
    except ValueError:
        return DesiredReply(app=None)
    app = await pool.fetchrow("SELECT * FROM apps WHERE id = $1", app_id)
    if app is None:
        return DesiredReply(app=None)
    keep = await apps_store.keep_images(pool, app["id"])
    return DesiredReply(app=desired_app(app, await _release(pool, app), domain, keep))


async def list_all(pool: asyncpg.Pool, data: bytes, domain: str) -> DesiredListReply:
    decode(data, ListDesired)
    apps = await pool.fetch("SELECT * FROM apps ORDER BY created_at")
    return DesiredListReply(
        apps=[
            desired_app(app, await _release(pool, app), domain, await apps_store.keep_images(pool, app["id"]))
            for app in apps
        ]
    )
