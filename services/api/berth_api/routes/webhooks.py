"""/api/webhooks: alert subscriptions, owned by the health service and managed over
``berth.rpc.health.webhooks.*``. The signing secret is shown once, in the reply to POST."""

from __future__ import annotations

from typing import Any

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
from fastapi import APIRouter, Depends

from berth_api.routes.apps import State, require_token
from berth_api.routes.health_bus import ask
from berth_api.validation import WebhookIn
from berth_api.views import delivery_view, webhook_view

router = APIRouter(prefix="/api", dependencies=[Depends(require_token)])


@router.post("/webhooks", status_code=201)
async def create_webhook(body: WebhookIn, s: State) -> dict[str, Any]:
    info: WebhookInfo = await ask(s.nc, WEBHOOKS_CREATE, CreateWebhook(url=body.url, events=body.events), WebhookInfo)
    return webhook_view(info)


@router.get("/webhooks")
async def list_webhooks(s: State, deliveries: int = 5) -> dict[str, Any]:
    if not 0 <= deliveries <= 100:
        raise ValidationFailed.on("deliveries", "must be between 0 and 100")
    result: WebhookList = await ask(s.nc, WEBHOOKS_LIST, ListWebhooks(deliveries=deliveries), WebhookList)
    return {"items": [webhook_view(w) for w in result.items]}


@router.delete("/webhooks/{webhook_id}")
async def delete_webhook(webhook_id: str, s: State) -> dict[str, Any]:
    result: WebhookDeleted = await ask(s.nc, WEBHOOKS_DELETE, DeleteWebhook(webhook_id=webhook_id), WebhookDeleted)
    return {"id": result.webhook_id, "deleted": True}


@router.get("/webhooks/{webhook_id}/deliveries")
async def webhook_deliveries(webhook_id: str, s: State, limit: int = 50) -> dict[str, Any]:
    if not 1 <= limit <= 500:
        raise ValidationFailed.on("limit", "must be between 1 and 500")
    result: DeliveryList = await ask(
        s.nc, WEBHOOKS_DELIVERIES, ListDeliveries(webhook_id=webhook_id, limit=limit), DeliveryList
    )
    return {"items": [delivery_view(d) for d in result.items]}
