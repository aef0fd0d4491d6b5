"""/api/apps/{id}/domains: attach, list and detach custom hostnames."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from berth_api import apps_store, domains_store
from berth_api.deps import Actor, State, authorize
from berth_api.validation import DomainIn
from berth_api.views import domain_view

router = APIRouter(prefix="/api", dependencies=[Depends(authorize)])


def _target(s: Any, app: Any) -> str:
    """Where the user points the hostname's DNS (a CNAME to the app's generated hostname)."""
    return apps_store.hostname_of(app["name"], s.settings.domain)


@router.get("/apps/{ref}/domains")
async def list_domains(ref: str, s: State) -> dict[str, Any]:
    app = await apps_store.find_app(s.pool, ref)
    rows = await domains_store.domains_of(s.pool, app["id"])
    return {"items": [domain_view(r, _target(s, app)) for r in rows]}


@router.post("/apps/{ref}/domains", status_code=201)
async def add_domain(ref: str, body: DomainIn, s: State, actor: Actor) -> dict[str, Any]:
    async with s.pool.acquire() as conn:
        row = await domains_store.add_domain(conn, ref, body.hostname, s.settings.domain, actor=actor)
    app = await apps_store.find_app(s.pool, ref)
    return domain_view(row, _target(s, app))


@router.delete("/apps/{ref}/domains/{domain_ref}")
async def remove_domain(ref: str, domain_ref: str, s: State, actor: Actor) -> dict[str, Any]:
    async with s.pool.acquire() as conn:
        row = await domains_store.remove_domain(conn, ref, domain_ref, s.settings.domain, actor=actor)
    app = await apps_store.find_app(s.pool, ref)
    return domain_view(row, _target(s, app))
