"""/api/webhooks: alert subscriptions, owned by the health service and managed over
``berth.rpc.health.webhooks.*``. The signing secret is shown once, in the reply to POST."""

from __future__ import annotations

from typing import Annotated, Any

from berth_shared.contracts.health import (
    WEBHOOKS_CREATE,
    WEBHOOKS_DELETE,
    WEBHOOKS_DELIVERIES,
    WEBHOOKS_LIST,
    CreateWebhook,
    DeleteWebhook,
    DeliveryList,
    ListDeliveries,
    ListWebhooks,
    WebhookDeleted,
    WebhookInfo,
    WebhookList,
)
from berth_shared.errors import ValidationFailed
from berth_shared.webhook_targets import TargetPolicy, TargetRefused, TargetUnresolved, resolve_target
from fastapi import APIRouter, Depends, Query, Request

from berth_api import rpc
from berth_api.deps import State, authorize
from berth_api.validation import WebhookIn
from berth_api.views import delivery_view, webhook_view

router = APIRouter(prefix="/api", dependencies=[Depends(authorize)])


def policy_of(request: Request) -> TargetPolicy:
    policy: TargetPolicy = request.app.state.webhook_policy
    return policy


@router.post("/webhooks", status_code=201)
async def create_webhook(
    body: WebhookIn, s: State, policy: Annotated[TargetPolicy, Depends(policy_of)]
) -> dict[str, Any]:
    # Where the URL leads now; the health service checks again at every delivery (DNS may change).
    try:
        await resolve_target(body.url, policy)
    except (TargetRefused, TargetUnresolved) as exc:
        raise ValidationFailed.on("url", exc.reason) from None
    info: WebhookInfo = await rpc.ask(
        s.nc, WEBHOOKS_CREATE, CreateWebhook(url=body.url, events=body.events), WebhookInfo, service=rpc.HEALTH
    )
    return webhook_view(info)


@router.get("/webhooks")
async def list_webhooks(
    s: State, deliveries: Annotated[int, Query(ge=0, le=100, description="recent deliveries shown per webhook")] = 5
) -> dict[str, Any]:
    result: WebhookList = await rpc.ask(
        s.nc, WEBHOOKS_LIST, ListWebhooks(deliveries=deliveries), WebhookList, service=rpc.HEALTH
    )
    return {"items": [webhook_view(w) for w in result.items]}


@router.delete("/webhooks/{webhook_id}")
async def delete_webhook(webhook_id: str, s: State) -> dict[str, Any]:
    result: WebhookDeleted = await rpc.ask(
        s.nc, WEBHOOKS_DELETE, DeleteWebhook(webhook_id=webhook_id), WebhookDeleted, service=rpc.HEALTH
    )
    return {"id": result.webhook_id, "deleted": True}


@router.get("/webhooks/{webhook_id}/deliveries")
async def webhook_deliveries(
    webhook_id: str, s: State, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> dict[str, Any]:
    result: DeliveryList = await rpc.ask(
        s.nc, WEBHOOKS_DELIVERIES, ListDeliveries(webhook_id=webhook_id, limit=limit), DeliveryList, service=rpc.HEALTH
    )
    return {"items": [delivery_view(d) for d in result.items]}
