"""Health family: per-app HTTP check definitions, status transitions, alerts (webhooks).

The API stores an app's check definition and sends it on ``AppCreated``/``AppUpdated``
(``health_check``) and in ``DesiredApp`` (so the deploy gate uses the same path, expected
status and timeout). ``None`` means "no check configured": liveness only (container running).

Events (BERTH_EVT), published by the health service on *transitions*, never per probe:
``berth.evt.health.app.<unhealthy|recovered|restart_requested|gave_up>.<app_id>``.
Queries (core NATS, queue ``health``): ``berth.rpc.health.status.get``,
``berth.rpc.health.states.list`` (every app's current state, for the API's resync, ADR 0018)
and ``berth.rpc.health.webhooks.<create|list|delete|deliveries>``.
"""

from __future__ import annotations

import msgspec

from berth_shared.contracts.base import Message

HEALTH_EVENTS = "berth.evt.health.>"
HEALTH_STATUS_GET = "berth.rpc.health.status.get"
HEALTH_STATES_LIST = "berth.rpc.health.states.list"
WEBHOOKS_CREATE = "berth.rpc.health.webhooks.create"
WEBHOOKS_LIST = "berth.rpc.health.webhooks.list"
WEBHOOKS_DELETE = "berth.rpc.health.webhooks.delete"
WEBHOOKS_DELIVERIES = "berth.rpc.health.webhooks.deliveries"

# What a webhook may subscribe to.
ALERT_EVENTS = ("health.unhealthy", "health.recovered", "deploy.failed", "deploy.succeeded", "app.crashed")


def health_event_subject(event: str, app_id: str) -> str:
    return f"berth.evt.health.app.{event}.{app_id}"


class HealthCheck(msgspec.Struct, kw_only=True, frozen=True):
    """One app's check definition. ``expected_status``: 0 = any status in [200, 400);
    1-5 = that class (2 = 2xx); 100-599 = exactly that code (Caddy's ``expect_status``)."""

    path: str = "/"
    interval_seconds: float = 10.0
    timeout_seconds: float = 5.0
    expected_status: int = 0
    healthy_threshold: int = 1
    unhealthy_threshold: int = 3
    start_period_seconds: float = 10.0
    restart_after_seconds: float = 60.0
    max_restarts: int = 3


def status_matches(status: int, expected: int) -> bool:
    """Does an HTTP status pass a check whose expectation is ``expected`` (see HealthCheck)?"""
    if expected == 0:
        return 200 <= status < 400
    if expected < 100:
        return expected * 100 <= status < (expected + 1) * 100
    return status == expected


def describe_expected(expected: int) -> str:
    if expected == 0:
        return "a status in [200, 400)"
    if expected < 100:
        return f"a {expected}xx status"
    return f"status {expected}"


class AppUnhealthy(Message, kw_only=True):
    app_id: str
    release_id: str = ""
    slot: str = ""
    reason: str
    consecutive_failures: int = 0
    # False when this repeats an episode already alerted (e.g. still sick after a restart).
    new_episode: bool = True
    liveness_only: bool = False


class AppRecovered(Message, kw_only=True):
    app_id: str
    release_id: str = ""
    slot: str = ""
    unhealthy_seconds: float = 0.0
    liveness_only: bool = False


class RestartRequested(Message, kw_only=True):
    """The app has been unhealthy longer than its window: the API should restart it (a flip)."""

    app_id: str
    release_id: str
    unhealthy_seconds: float
    attempt: int
    max_restarts: int


class RestartsExhausted(Message, kw_only=True):
    """Still unhealthy after ``restarts`` automatic restarts: Berth stops restarting it."""

    app_id: str
    release_id: str
    restarts: int
    unhealthy_seconds: float


HealthEvent = AppUnhealthy | AppRecovered | RestartRequested | RestartsExhausted


# -- queries --


class GetHealth(Message, kw_only=True):
    app_id: str
    limit: int = 50
    # Cursor: history entries older than this check id.
    before_id: int | None = None


class CheckResult(msgspec.Struct, kw_only=True):
    id: int
    timestamp: str
    release_id: str
    slot: str
    ok: bool
    status_code: int | None = None
    error: str | None = None
    latency_ms: int = 0


class HealthReport(Message, kw_only=True):
    app_id: str
    # unknown | starting | healthy | unhealthy
    state: str
    since: str | None = None
    reason: str = ""
    release_id: str = ""
    slot: str = ""
    restarts: int = 0
    liveness_only: bool = True
    last_check: CheckResult | None = None
    # Share of passing checks per window (None when there were none).
    uptime: dict[str, float | None] = {}
    history: list[CheckResult] = []
    next_cursor: int | None = None


class CreateWebhook(Message, kw_only=True):
    url: str
    events: list[str]


class Delivery(msgspec.Struct, kw_only=True):
    id: int
    event: str
    app_id: str
    status: str  # pending | delivered | failed
    attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: str
    next_attempt_at: str | None = None
    delivered_at: str | None = None


class WebhookInfo(Message, kw_only=True):
    webhook_id: str
    url: str
    events: list[str]
    created_at: str
    # Only in the reply to CreateWebhook: the signing secret, shown once.
    secret: str | None = None
    recent_deliveries: list[Delivery] = []


class ListWebhooks(Message, kw_only=True):
    deliveries: int = 5


class WebhookList(Message, kw_only=True):
    items: list[WebhookInfo]


class DeleteWebhook(Message, kw_only=True):
    webhook_id: str


class WebhookDeleted(Message, kw_only=True):
    webhook_id: str


class ListDeliveries(Message, kw_only=True):
    webhook_id: str
    limit: int = 50


class DeliveryList(Message, kw_only=True):
    items: list[Delivery]


class ListHealthStates(Message, kw_only=True):
    # Who asks (for the health service's log only).
    requester: str = ""


class AppHealthState(msgspec.Struct, kw_only=True):
    """One app's current health, as the health service holds it (its state machine's view)."""

    app_id: str
    release_id: str = ""
    slot: str = ""
    # unknown | starting | healthy | unhealthy
    state: str
    # When it entered ``state`` (epoch seconds; 0 when never).
    since: float = 0.0
    reason: str = ""
    consecutive_failures: int = 0
    # When the current unhealthy episode began (epoch seconds), if one is open.
    episode_since: float | None = None
    restarts: int = 0
    # Berth stopped restarting it automatically (RestartsExhausted was sent).
    gave_up: bool = False


class HealthStates(Message, kw_only=True):
    """Every app the health service checks; ``at`` is when it read them."""

    apps: list[AppHealthState] = []
