"""/api/apps/{id}/formation and /processes: an app's process types, release command and cron
jobs (ADR 0026). ``PUT formation`` rolls out a ``config`` release of the live image with the
stated sections replaced; ``PATCH processes/{name}`` changes a count without a release."""

from __future__ import annotations

from typing import Annotated, Any

from berth_shared.contracts.agent import AgentApps, AgentAppsQuery, agent_apps_subject
from berth_shared.errors import FieldError, ValidationFailed
from fastapi import APIRouter, Body, Depends, Path

from berth_api import apps_store, release_formation, rpc
from berth_api.deps import Actor, State, authorize
from berth_api.engine_check import require_engine
from berth_api.formation import given_sections, parse_formation
from berth_api.process_instances import instances_by_process
from berth_api.validation import FORMATION_KEYS, FORMATION_SCHEMA, ScaleProcess
from berth_api.views import formation_view, processes_view, release_view

router = APIRouter(prefix="/api", dependencies=[Depends(authorize)])

ProcessName = Annotated[str, Path(json_schema_extra={"pattern": "^[a-z][a-z0-9-]{0,29}$"})]

# How long a listing waits for the agent's containers before it answers without them.
INSTANCES_TIMEOUT_SECONDS = 2.0


def read_formation_body(body: Any) -> tuple[Any, frozenset[str]]:
    """The formation and the sections a ``PUT formation`` body states; 422 naming each key that
    is not a section, and for a body that states none."""
    if not isinstance(body, dict):
        raise ValidationFailed.on("body", "must be an object with processes, releaseCommand and/or cron")
    unknown = [FieldError(str(k), f"unknown setting; known: {', '.join(FORMATION_KEYS)}") for k in body
               if k not in FORMATION_KEYS]  # fmt: skip
    if unknown:
        raise ValidationFailed("; ".join(f"{e.field}: {e.message}" for e in unknown), details=unknown)
    sections = given_sections(body, style="json")
    if not sections:
        raise ValidationFailed.on("body", f"state at least one of {', '.join(FORMATION_KEYS)}")
    return parse_formation(body, style="json"), sections


@router.put(
    "/apps/{ref}/formation",
    status_code=202,
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": FORMATION_SCHEMA}}}},
)
async def put_formation(ref: str, s: State, actor: Actor, body: Annotated[Any, Body()] = None) -> dict[str, Any]:
    """A new release of the live image whose formation has the stated sections replaced (a
    section set to null clears it); 409 before the first deploy."""
    formation, sections = read_formation_body(body)
    await apps_store.find_app(s.pool, ref)
    await require_engine(s.nc, s.settings.host_id)
    async with s.pool.acquire() as conn:
        release = await apps_store.set_formation(conn, ref, formation, sections, s.settings.host_id, actor=actor)
    return release_view(release)


@router.get("/apps/{ref}/formation")
async def get_formation(ref: str, s: State) -> dict[str, Any]:
    """The formation of the app's newest release; ``processes`` lists the counts in force."""
    app = await apps_store.find_app(s.pool, ref)
    formation = await apps_store.release_formation_of(s.pool, app)
    return {"appId": str(app["id"]), "formation": formation_view(formation)}


async def _processes_json(s: Any, app: Any) -> dict[str, Any]:
    formation = await apps_store.release_formation_of(s.pool, app)
    counts = release_formation.decode_counts(app["process_counts"])
    crashed = release_formation.decode_reasons(app["crashed_processes"])
    items = processes_view(formation, counts, crashed, app["memory_mb"], float(app["cpus"]))
    return {"appId": str(app["id"]), "items": items}


async def _with_instances(s: Any, app: Any, listing: dict[str, Any]) -> dict[str, Any]:
    held = await rpc.ask_if_answered(
        s.nc,
        agent_apps_subject(s.settings.host_id),
        AgentAppsQuery(requester="api"),
        AgentApps,
        service=rpc.AGENT,
        timeout=INSTANCES_TIMEOUT_SECONDS,
    )
    live = str(app["current_release_id"]) if app["current_release_id"] else None
    by_process = None if held is None else instances_by_process(held, str(app["id"]), live)
    for item in listing["items"]:
        item["instances"] = None if by_process is None else by_process.get(item["name"], [])
    return listing


@router.get("/apps/{ref}/processes")
async def list_processes(ref: str, s: State, instances: bool = False) -> dict[str, Any]:
    """Each process type with its count in force. ``instances=true``: also its containers as the
    runtime agent holds them (``instances``: index, running, address, slot, containerId, releaseId,
    live; an old release's still draining), or null when the agent does not answer in 2 s."""
    app = await apps_store.find_app(s.pool, ref)
    listing = await _processes_json(s, app)
    return await _with_instances(s, app, listing) if instances else listing


@router.patch("/apps/{ref}/processes/{name}")
async def scale_process(ref: str, name: ProcessName, body: ScaleProcess, s: State, actor: Actor) -> dict[str, Any]:
    """Set the process's count (0-10) without a new release; the agent starts or stops
    instances of the live release. 422 on ``count`` when the app's network cannot hold them."""
    await apps_store.find_app(s.pool, ref)
    await require_engine(s.nc, s.settings.host_id)
    async with s.pool.acquire() as conn:
        app = await apps_store.scale_process(conn, ref, name, body.count, s.settings.host_id, actor=actor)
    return await _processes_json(s, app)
