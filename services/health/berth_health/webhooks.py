"""Webhooks (managed over ``berth.rpc.health.webhooks.*``), one delivery per webhook and
triggering event (so repeated probes or redelivered events never add alerts), signed with
HMAC-SHA256, retried with exponential backoff, persisted (a restart resumes pending ones).
Each attempt resolves the URL's host once, checks every address (public only, unless
``BERTH_ALLOW_PRIVATE_WEBHOOKS``) and connects to the checked one; a refused target fails the
delivery at once with the reason."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
from berth_shared.contracts.base import decode
from berth_shared.contracts.cron import CRON_ALERT_EVENTS, CronEvent
from berth_shared.contracts.health import (
    ALERT_EVENTS,
    AppRecovered,
    AppUnhealthy,
    CreateWebhook,
    DeleteWebhook,
    Delivery,
    DeliveryList,
    HealthEvent,
    ListDeliveries,
    ListWebhooks,
    WebhookDeleted,
    WebhookInfo,
    WebhookList,
)
from berth_shared.errors import NotFound, ValidationFailed
from berth_shared.webhook_targets import TargetPolicy, TargetRefused, TargetUnresolved, resolve_target
from nats.aio.msg import Msg

from berth_health import signing
from berth_health.cron_alerts import cron_alert
from berth_health.delivery import describe_failure, pinned_request

log = logging.getLogger("berth.health.webhooks")

MAX_ATTEMPTS = int(os.environ.get("BERTH_WEBHOOK_MAX_ATTEMPTS", "6"))
RETRY_BASE_SECONDS = float(os.environ.get("BERTH_WEBHOOK_RETRY_BASE_SECONDS", "2"))
TIMEOUT_SECONDS = 5.0
BATCH = 32
# What a webhook may subscribe to: the health service's own alerts and the API's cron events.
EVENTS = (*ALERT_EVENTS, *CRON_ALERT_EVENTS)


def _ts(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed.on("url", "must be an absolute http:// or https:// URL")
    if len(url) > 2048:
        raise ValidationFailed.on("url", "must be at most 2048 characters")
    return url


def check_events(events: list[str]) -> list[str]:
    if not events:
        raise ValidationFailed.on("events", f"must name at least one of {', '.join(EVENTS)}")
    for i, event in enumerate(events):
        if event not in EVENTS:
            raise ValidationFailed.on(f"events[{i}]", f"unknown event {event!r}; one of {', '.join(EVENTS)}")
    return sorted(set(events), key=events.index)


def delivery_of(row: asyncpg.Record) -> Delivery:
    return Delivery(
        id=row["id"],
        event=row["event"],
        app_id=row["app_id"],
        status=row["status"],
        attempts=row["attempts"],
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        created_at=_ts(row["created_at"]) or "",
        next_attempt_at=_ts(row["next_attempt_at"]) if row["status"] == "pending" else None,
        delivered_at=_ts(row["delivered_at"]),
    )


class Webhooks:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        retry_base: float = RETRY_BASE_SECONDS,
        max_attempts: int = MAX_ATTEMPTS,
        timeout: float = TIMEOUT_SECONDS,
        policy: TargetPolicy | None = None,
    ) -> None:
        self.pool = pool
        self.policy = policy if policy is not None else TargetPolicy.from_env()
        self.retry_base = retry_base
        self.max_attempts = max_attempts
        self.timeout = timeout
        self._wake = asyncio.Event()

    # -- enqueue --

    async def enqueue(self, event_id: str, event: str, app_id: str, details: dict[str, Any], at: datetime) -> int:
        """One pending delivery per webhook subscribed to ``event`` (idempotent per event id)."""
        name = await self.pool.fetchval("SELECT name FROM apps WHERE app_id = $1", app_id)
        body = signing.payload(event, app_id, name or "", details, _ts(at) or "")
        status = await self.pool.execute(
            "INSERT INTO deliveries (webhook_id, event_id, event, app_id, body) "
            "SELECT id, $1, $2, $3, $4 FROM webhooks WHERE $2 = ANY(events) "
            "ON CONFLICT (webhook_id, event_id) DO NOTHING",
            event_id,
            event,
            app_id,
            body,
        )
        count = int(status.rsplit(" ", 1)[-1])
        if count:
            self._wake.set()
        return count

    async def on_health_event(self, msg: Msg) -> None:
        """Own transitions → ``health.unhealthy`` (first of an episode only) / ``health.recovered``."""
        event: HealthEvent = decode(msg.data, HealthEvent)
        match event:
            case AppUnhealthy() if event.new_episode:
                details: dict[str, Any] = {
                    "releaseId": event.release_id,
                    "slot": event.slot,
                    "reason": event.reason,
                    "consecutiveFailures": event.consecutive_failures,
                    "livenessOnly": event.liveness_only,
                }
                await self.enqueue(event.id, "health.unhealthy", event.app_id, details, event.at)
            case AppRecovered():
                details = {
                    "releaseId": event.release_id,
                    "slot": event.slot,
                    "unhealthySeconds": event.unhealthy_seconds,
                    "livenessOnly": event.liveness_only,
                }
                await self.enqueue(event.id, "health.recovered", event.app_id, details, event.at)
            case _:
                pass

    async def on_cron_event(self, msg: Msg) -> None:
        """The API's cron events → ``cron.failed`` / ``cron.missed`` (``health-cron-events``)."""
        event: CronEvent = decode(msg.data, CronEvent)
        name, details = cron_alert(event)
        await self.enqueue(event.id, name, event.app_id, details, event.at)

    # -- delivery --

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=self.timeout, trust_env=False, follow_redirects=False) as http:
            while not stop.is_set():
                try:
                    sent = await self.deliver_due(http)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("webhook delivery round failed")
                    sent = 0
                if sent == 0:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=0.5)

    async def deliver_due(self, http: httpx.AsyncClient) -> int:
        rows = await self.pool.fetch(
            "SELECT d.*, w.url, w.secret FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id "
            "WHERE d.status = 'pending' AND d.next_attempt_at <= now() ORDER BY d.next_attempt_at LIMIT $1",
            BATCH,
        )
        await asyncio.gather(*(self._deliver(http, row) for row in rows))
        return len(rows)

    async def _deliver(self, http: httpx.AsyncClient, row: asyncpg.Record) -> None:
        body: bytes = bytes(row["body"])
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "berth-webhooks/1",
            signing.SIGNATURE_HEADER: signing.sign(row["secret"], body),
            "X-Berth-Event": row["event"],
            "X-Berth-Delivery": str(row["id"]),
        }
        code: int | None = None
        error: str | None = None
        try:
            target = await resolve_target(row["url"], self.policy)
            request = pinned_request(row["url"], target)
            response = await http.post(
                request.url, content=body, headers={**headers, **request.headers}, extensions=request.extensions
            )
            code = response.status_code
            if not 200 <= code < 300:
                error = f"HTTP {code}"
        except TargetRefused as exc:
            # The policy does not change between attempts: recorded once, never retried.
            await self._record_failure(row, None, f"refused: {exc.reason}", final=True)
            return
        except TargetUnresolved as exc:
            error = exc.reason
        except httpx.HTTPError as exc:
            error = describe_failure(exc)
        attempts = row["attempts"] + 1
        if error is None:
            await self.pool.execute(
                "UPDATE deliveries SET status = 'delivered', attempts = $2, last_status_code = $3, last_error = NULL, "
                "delivered_at = now() WHERE id = $1",
                row["id"],
                attempts,
                code,
            )
            return
        await self._record_failure(row, code, error, final=attempts >= self.max_attempts)

    async def _record_failure(self, row: asyncpg.Record, code: int | None, error: str, *, final: bool) -> None:
        attempts = row["attempts"] + 1
        delay = signing.backoff_seconds(attempts, self.retry_base)
        await self.pool.execute(
            "UPDATE deliveries SET status = $2, attempts = $3, last_status_code = $4, last_error = $5, "
            "next_attempt_at = now() + $6::interval WHERE id = $1",
            row["id"],
            "failed" if final else "pending",
            attempts,
            code,
            error,
            timedelta(seconds=delay),
        )
        log.warning(
            "webhook delivery %s (%s) attempt %d failed: %s%s",
            row["id"],
            row["event"],
            attempts,
            error,
            "; giving up" if final else f"; retrying in {delay:g}s",
        )

    # -- management (RPC) --

    async def create(self, data: bytes) -> WebhookInfo:
        request = decode(data, CreateWebhook)
        url = check_url(request.url.strip())
        events = check_events(request.events)
        secret = signing.new_secret()
        row = await self.pool.fetchrow(
            "INSERT INTO webhooks (id, url, events, secret) VALUES ($1, $2, $3, $4) RETURNING *",
            uuid.uuid4(),
            url,
            events,
            secret,
        )
        assert row is not None
        info = self._info(row, [])
        info.secret = secret
        return info

    async def list_webhooks(self, data: bytes) -> WebhookList:
        request = decode(data, ListWebhooks)
        rows = await self.pool.fetch("SELECT * FROM webhooks ORDER BY created_at")
        items = []
        for row in rows:
            deliveries = await self.pool.fetch(
                "SELECT * FROM deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2",
                row["id"],
                max(0, min(request.deliveries, 100)),
            )
            items.append(self._info(row, [delivery_of(d) for d in deliveries]))
        return WebhookList(items=items)

    async def delete(self, data: bytes) -> WebhookDeleted:
        request = decode(data, DeleteWebhook)
        webhook_id = self._uuid(request.webhook_id)
        if await self.pool.execute("DELETE FROM webhooks WHERE id = $1", webhook_id) == "DELETE 0":
            raise NotFound(f"webhook {request.webhook_id!r} not found")
        return WebhookDeleted(webhook_id=request.webhook_id)

    async def deliveries(self, data: bytes) -> DeliveryList:
        request = decode(data, ListDeliveries)
        webhook_id = self._uuid(request.webhook_id)
        if not await self.pool.fetchval("SELECT 1 FROM webhooks WHERE id = $1", webhook_id):
            raise NotFound(f"webhook {request.webhook_id!r} not found")
        rows = await self.pool.fetch(
            "SELECT * FROM deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2",
            webhook_id,
            max(1, min(request.limit, 500)),
        )
        return DeliveryList(items=[delivery_of(r) for r in rows])

    @staticmethod
    def _uuid(value: str) -> uuid.UUID:
        try:
            return uuid.UUID(value)
        except ValueError:
            raise NotFound(f"webhook {value!r} not found") from None

    @staticmethod
    def _info(row: asyncpg.Record, deliveries: list[Delivery]) -> WebhookInfo:
        return WebhookInfo(
            webhook_id=str(row["id"]),
            url=row["url"],
            events=list(row["events"]),
            created_at=_ts(row["created_at"]) or "",
            recent_deliveries=deliveries,
        )
