"""/api/apps/{id}/cron: the app's cron jobs (its live release's, ADR 0026 §4) with their next due
time and last run, each job's history (runs, skipped and missed entries), and "run now"."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from berth_api import apps_store, runs_store
from berth_api.cron import store
from berth_api.deps import Actor, State, authorize
from berth_api.run_views import job_view, run_view

router = APIRouter(prefix="/api", dependencies=[Depends(authorize)])


@router.get("/apps/{ref}/cron")
async def list_cron(ref: str, s: State) -> dict[str, Any]:
    app = await apps_store.find_app(s.pool, ref)
    return {"items": [job_view(r) for r in await store.jobs(s.pool, app["id"])]}


@router.get("/apps/{ref}/cron/{name}/runs")
async def cron_runs(ref: str, name: str, s: State, limit: Annotated[int, Query(ge=1, le=100)] = 100) -> dict[str, Any]:
    """The job's history, newest first: runs, and ``skipped``/``missed`` entries."""
    app = await apps_store.find_app(s.pool, ref)
    return {"items": [run_view(r) for r in await runs_store.recent(s.pool, app["id"], job=name, limit=limit)]}


@router.post("/apps/{ref}/cron/{name}/runs", status_code=202)
async def run_cron_now(ref: str, name: str, s: State, actor: Actor) -> dict[str, Any]:
    """A manual run of the job, under its concurrency policy: 409 when ``forbid`` (or
    ``allow``'s limit of 3) holds it back; ``replace`` stops the running one."""
    app = await apps_store.find_app(s.pool, ref)
    async with s.pool.acquire() as conn, conn.transaction():
        row = await store.run_now(conn, s.settings.host_id, app["id"], name, actor)
    return run_view(row)
