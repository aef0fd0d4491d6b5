"""/api/apps: create, list, show, delete apps; deploy, restart, list releases."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from berth_shared.errors import Conflict, ImageGone
from berth_shared.image_refs import gone_message
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from berth_api import apps_store, builds, release_formation
from berth_api.deps import Actor, State, authorize
from berth_api.disk_check import require_disk
from berth_api.engine_check import require_engine
from berth_api.image_presence import missing_images
from berth_api.state import ApiState
from berth_api.validation import CreateApp, Deploy, Rollback, UpdateApp
from berth_api.views import app_view, release_view, step_view

router = APIRouter(prefix="/api", dependencies=[Depends(authorize)])


async def _app_json(s: ApiState, app: Any) -> dict[str, Any]:
    current = await apps_store.current_release(s.pool, app)
    return app_view(app, s.settings.domain, s.settings.http_port, current)


@router.post("/apps", status_code=201)
async def create_app(body: CreateApp, s: State, actor: Actor) -> dict[str, Any]:
    async with s.pool.acquire() as conn:
        row = await apps_store.create_app(conn, body, s.settings.subnet_pool, s.settings.domain, actor=actor)
    return await _app_json(s, row)


@router.get("/apps")
async def list_apps(s: State) -> dict[str, Any]:
    rows = await s.pool.fetch("SELECT * FROM apps WHERE deleted_at IS NULL ORDER BY name")
    return {"items": [await _app_json(s, r) for r in rows]}


@router.get("/apps/{ref}")
async def show_app(ref: str, s: State) -> dict[str, Any]:
    return await _app_json(s, await apps_store.find_app(s.pool, ref))


@router.patch("/apps/{ref}")
async def update_app(ref: str, body: UpdateApp, s: State, actor: Actor) -> dict[str, Any]:
    async with s.pool.acquire() as conn:
        row = await apps_store.update_app(conn, ref, body, s.settings.domain, s.settings.host_id, actor=actor)
    return await _app_json(s, row)


@router.delete("/apps/{ref}", status_code=202)
async def delete_app(ref: str, s: State, actor: Actor) -> dict[str, Any]:
    async with s.pool.acquire() as conn:
        row = await apps_store.delete_app(conn, ref, s.settings.domain, s.settings.host_id, actor=actor)
    return await _app_json(s, row)


@router.post("/apps/{ref}/deploy", status_code=202)
async def deploy(ref: str, body: Deploy, s: State, actor: Actor) -> dict[str, Any]:
    await apps_store.find_app(s.pool, ref)
    require_disk(await require_engine(s.nc, s.settings.host_id), s.settings, "deploy")
    async with s.pool.acquire() as conn:
        _, release = await apps_store.create_release(conn, ref, body.image, "deploy", s.settings.host_id, actor=actor)
    return release_view(release)


@router.post("/apps/{ref}/restart", status_code=202)
async def restart(ref: str, s: State, actor: Actor, hard: bool = False) -> dict[str, Any]:
    """A flip to a fresh container of the live release; ``?hard=true`` restarts it in place."""
    app = await apps_store.find_app(s.pool, ref)
    if hard:
        await require_engine(s.nc, s.settings.host_id)
        async with s.pool.acquire() as conn:
            live = await apps_store.restart_in_place(conn, ref, s.settings.host_id, actor=actor)
        return release_view(live)
    current = await apps_store.current_release(s.pool, app)
    if current is None:
        raise Conflict(f"app {app['name']!r} has no live release to restart; deploy an image first")
    await require_engine(s.nc, s.settings.host_id)
    async with s.pool.acquire() as conn:
        image = apps_store.pinned_image(current)
        _, release = await apps_store.create_release(conn, ref, image, "restart", s.settings.host_id, actor=actor)
    return release_view(release)


@router.post("/apps/{ref}/rollback", status_code=202)
async def rollback(ref: str, s: State, actor: Actor, body: Rollback | None = None) -> dict[str, Any]:
    app = await apps_store.find_app(s.pool, ref)
    await require_engine(s.nc, s.settings.host_id)
    target = body.release_id if body else None
    await require_image(s, app, await apps_store.rollback_target(s.pool, ref, target))
    async with s.pool.acquire() as conn:
        release = await builds.rollback_release(
            conn, ref, target, host=s.settings.host_id, domain=s.settings.domain, actor=actor
        )
    return release_view(release)


async def require_image(s: ApiState, app: asyncpg.Record, target: asyncpg.Record) -> None:
    """Refuse a rollback at once when the agent says its image is gone (ImageGone, 409)."""
    image = apps_store.pinned_image(target)
    missing = await missing_images(s.nc, s.settings.host_id, [image])
    if missing and image in missing:
        source, _ = await apps_store.source_of(s.pool, app["id"], image)
        raise ImageGone(gone_message(image, app["name"], source, target["version"]))


@router.get("/apps/{ref}/releases")
async def releases(ref: str, s: State) -> dict[str, Any]:
    """Newest first; ``imageAvailable``: whether a release that went live can be rolled back to
    (its image is still on the host), null when the agent cannot say."""
    app = await apps_store.find_app(s.pool, ref)
    rows = await s.pool.fetch("SELECT * FROM releases WHERE app_id = $1 ORDER BY version DESC", app["id"])
    targets = sorted({apps_store.pinned_image(r) for r in rows if r["live_at"] is not None})
    missing = await missing_images(s.nc, s.settings.host_id, targets)
    return {"items": [available_view(r, missing) for r in rows]}


def available_view(row: asyncpg.Record, missing: set[str] | None) -> dict[str, Any]:
    view = release_view(row)
    view["imageAvailable"] = (
        None if missing is None or row["live_at"] is None else apps_store.pinned_image(row) not in missing
    )
    return view


@router.get("/apps/{ref}/releases/{release_id}")
async def release_detail(ref: str, release_id: str, s: State) -> JSONResponse:
    import uuid

    from berth_shared.errors import NotFound

    app = await apps_store.find_app(s.pool, ref)
    try:
        rid = uuid.UUID(release_id)
    except ValueError:
        raise NotFound(f"release {release_id!r} not found") from None
    row = await s.pool.fetchrow("SELECT * FROM releases WHERE id = $1 AND app_id = $2", rid, app["id"])
    if row is None:
        raise NotFound(f"release {release_id!r} not found")
    steps = await s.pool.fetch("SELECT * FROM release_steps WHERE release_id = $1 ORDER BY at", rid)
    detail = {**release_view(row), "steps": [step_view(x) for x in steps]}
    if row["build"] is not None:
        detail["build"] = json.loads(row["build"]) if isinstance(row["build"], str) else row["build"]
        detail["buildLog"] = row["build_log"]
    formation = release_formation.decode(row["formation"])
    if row["release_log"] or release_formation.release_command_for(row["kind"], formation):
        detail["releaseLog"] = row["release_log"]  # the release command's output (ADR 0026)
    if row["config"] is not None:
        detail["config"] = json.loads(row["config"]) if isinstance(row["config"], str) else row["config"]
    return JSONResponse(detail)
