"""/api/apps/{id}/health: the app's check definition (PUT to set, DELETE for liveness only) and,
from the health service over ``berth.rpc.health.status.get``, its state, last check, uptime and
a paged history."""

from __future__ import annotations

from typing import Annotated, Any

from berth_shared.contracts.health import HEALTH_STATUS_GET, GetHealth, HealthReport
from fastapi import APIRouter, Depends, Query

from berth_api import apps_store, rpc
from berth_api.deps import Actor, State, authorize
from berth_api.validation import HealthCheckIn
from berth_api.views import check_result_view, health_check_view

router = APIRouter(prefix="/api", dependencies=[Depends(authorize)])


async def _health_json(s: Any, app: Any, limit: int = 50, cursor: int | None = None) -> dict[str, Any]:
    report: HealthReport = await rpc.ask(
        s.nc,
        HEALTH_STATUS_GET,
        GetHealth(app_id=str(app["id"]), limit=limit, before_id=cursor),
        HealthReport,
        service=rpc.HEALTH,
    )
    check = apps_store.health_check_of(app)
    return {
        "appId": str(app["id"]),
        "config": health_check_view(check),
        "livenessOnly": check is None,
        "state": report.state,
        "since": report.since,
        "reason": report.reason or None,
        "automaticRestarts": report.restarts,
        "lastCheck": check_result_view(report.last_check),
        "uptime": report.uptime or {"1h": None, "24h": None, "7d": None},
        "history": {"items": [check_result_view(c) for c in report.history], "nextCursor": report.next_cursor},
    }


@router.get("/apps/{ref}/health")
async def get_health(
    ref: str,
    s: State,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    app = await apps_store.find_app(s.pool, ref)
    return await _health_json(s, app, limit, cursor)


@router.put("/apps/{ref}/health")
async def put_health(ref: str, body: HealthCheckIn, s: State, actor: Actor) -> dict[str, Any]:
    async with s.pool.acquire() as conn:
        row = await apps_store.set_health_check(conn, ref, body.to_contract(), s.settings.domain, actor=actor)
    return {
        "appId": str(row["id"]),
        "config": health_check_view(apps_store.health_check_of(row)),
        "livenessOnly": False,
    }


@router.delete("/apps/{ref}/health")
async def delete_health(ref: str, s: State, actor: Actor) -> dict[str, Any]:
    """No check configured: liveness only (the container is running)."""
    async with s.pool.acquire() as conn:
        row = await apps_store.set_health_check(conn, ref, None, s.settings.domain, actor=actor)
    return {"appId": str(row["id"]), "config": None, "livenessOnly": True}
