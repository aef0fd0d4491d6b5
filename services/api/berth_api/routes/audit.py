"""/api/audit: the audit log, newest first (who, when, what; env entries name keys only)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from berth_api import apps_store
from berth_api.deps import State, authorize
from berth_api.views import audit_view

router = APIRouter(prefix="/api", dependencies=[Depends(authorize)])


@router.get("/audit")
async def audit_log(
    s: State,
    app_ref: Annotated[str | None, Query(alias="appId")] = None,
    action: Annotated[
        str | None, Query(pattern=r"^[a-z0-9_.-]{1,64}$", description="an action such as env.reveal or token.create")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    app_id: uuid.UUID | None = None
    if app_ref:
        try:
            app_id = uuid.UUID(app_ref)  # also the id of a deleted app
        except ValueError:
            app_id = (await apps_store.find_app(s.pool, app_ref))["id"]
    rows = await s.pool.fetch(
        "SELECT * FROM audit_log WHERE ($1::uuid IS NULL OR app_id = $1) AND ($2::text IS NULL OR action = $2) "
        "ORDER BY id DESC LIMIT $3",
        app_id,
        action,
        limit,
    )
    return {"items": [audit_view(r) for r in rows]}
