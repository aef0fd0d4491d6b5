"""/api/apps/{id}/env: list (masked), reveal (audited), set and unset in one atomic change."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from berth_api import apps_store, env_store
from berth_api.deps import Actor, Keys, State, authorize
from berth_api.validation import EnvChange
from berth_api.views import env_var_view, release_view

router = APIRouter(prefix="/api", dependencies=[Depends(authorize)])


@router.get("/apps/{ref}/env")
async def list_env(ref: str, s: State, keys: Keys, actor: Actor, reveal: bool = False) -> dict[str, Any]:
    """Keys with timestamps and masked values; ``?reveal=true`` shows values (audited)."""
    if reveal:
        async with s.pool.acquire() as conn:
            app, rows, values = await env_store.reveal(conn, keys.ring, ref, actor)
        items = [env_var_view(row, values[row["name"]]) for row in rows]
    else:
        app = await apps_store.find_app(s.pool, ref)
        items = [env_var_view(row) for row in await env_store.rows_of(s.pool, app["id"])]
    return {"appId": str(app["id"]), "revealed": reveal, "items": items}


@router.post("/apps/{ref}/env")
async def change_env(
    ref: str, body: EnvChange, *, s: State, keys: Keys, actor: Actor, deploy: bool = True
) -> dict[str, Any]:
    """Set ``vars`` and remove ``unset`` atomically. With a release running or in flight and
    ``deploy`` not false, a ``config`` release rolls the change out (a zero-downtime flip)."""
    async with s.pool.acquire() as conn:
        app, release, changes = await env_store.change(
            conn, keys, ref, body.vars, body.unset, deploy=deploy, actor=actor, host=s.settings.host_id
        )
        rows = await env_store.rows_of(conn, app["id"])
    return {
        "appId": str(app["id"]),
        "changed": changes.as_json(),
        "release": release_view(release) if release is not None else None,
        "items": [env_var_view(row) for row in rows],
    }
