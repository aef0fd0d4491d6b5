"""Every JetStream stream and durable consumer Berth uses, declared in one place.

Streams (and the build-context bucket) are created by one owner: the launcher's provisioning
step at start (``berth_shared.provision``), under an identity that exists only while it runs.
Services only bind to them. Each service creates its own durable consumers at start
(:func:`berth_shared.bus.ensure_consumer`), and its NATS identity may create, read and
acknowledge only those (``OWNED_CONSUMERS``; see docs/architecture.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from berth_shared.contracts.apps import APP_DELETED_EVENTS, APP_EVENTS
from berth_shared.contracts.containers import CONTAINER_EVENTS
from berth_shared.contracts.cron import CRON_EVENTS
from berth_shared.contracts.domains import DOMAIN_EVENTS
from berth_shared.contracts.health import HEALTH_EVENTS
from berth_shared.contracts.logs import BULK_LOG_SUBJECTS, LOG_SUBJECTS, PROMPT_LOG_SUBJECTS
from berth_shared.contracts.releases import AGENT_EVENTS, RELEASE_EVENTS, agent_commands
from berth_shared.contracts.runs import RUN_EVENTS

DAY = 24 * 3600


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    work_queue: bool = False
    max_age_seconds: int = 7 * DAY
    max_bytes: int = 256 * 1024 * 1024
    duplicate_window_seconds: int = 120


@dataclass(frozen=True)
class ConsumerSpec:
    stream: str
    durable: str
    filter_subject: str
    ack_wait_seconds: int = 60
    max_deliver: int = 20
    max_ack_pending: int = 256
    backoff_seconds: tuple[float, ...] = field(default_factory=tuple)


COMMANDS = StreamSpec(
    name="BERTH_CMD",
    subjects=("berth.cmd.>",),
    work_queue=True,
    max_age_seconds=DAY,
)

EVENTS = StreamSpec(
    name="BERTH_EVT",
    subjects=("berth.evt.>",),
)

# App log lines (LogBatch): kept a few days, bounded in size, so the logs service can catch up
# after an outage; the logs service's own retention decides how long lines stay searchable.
LOGS = StreamSpec(
    name="BERTH_LOGS",
    subjects=(LOG_SUBJECTS,),
    max_age_seconds=3 * DAY,
    max_bytes=1024 * 1024 * 1024,
)

ALL_STREAMS = (COMMANDS, EVENTS, LOGS)


def agent_command_consumer(host: str) -> ConsumerSpec:
    # Rollouts can take a deploy deadline plus a stop timeout; the agent also
    # sends in-progress acks while it works, so this is a ceiling, not a wait.
    return ConsumerSpec(
        stream=COMMANDS.name,
        durable=f"agent-{host}",
        filter_subject=agent_commands(host),
        ack_wait_seconds=120,
    )


API_RELEASE_EVENTS = ConsumerSpec(stream=EVENTS.name, durable="api-release-events", filter_subject=RELEASE_EVENTS)
API_CONTAINER_EVENTS = ConsumerSpec(stream=EVENTS.name, durable="api-container-events", filter_subject=CONTAINER_EVENTS)
ROUTER_APP_EVENTS = ConsumerSpec(stream=EVENTS.name, durable="router-app-events", filter_subject=APP_EVENTS)
API_DOMAIN_EVENTS = ConsumerSpec(stream=EVENTS.name, durable="api-domain-events", filter_subject=DOMAIN_EVENTS)
# The agent's run reports (RunStarted, RunFinished) end the API's run rows (ADR 0026 §5).
API_RUN_EVENTS = ConsumerSpec(stream=EVENTS.name, durable="api-run-events", filter_subject=RUN_EVENTS)
LOGS_APP_DELETED = ConsumerSpec(stream=EVENTS.name, durable="logs-app-deleted", filter_subject=APP_DELETED_EVENTS)
HEALTH_APP_DELETED = ConsumerSpec(stream=EVENTS.name, durable="health-app-deleted", filter_subject=APP_DELETED_EVENTS)
# The logs service persists batches and acks them only after they are committed; a failing
# database never drops lines (max_deliver -1: redelivered until stored, or terminated as poison).
# Two lanes: prompt batches (quiet apps, the router's) are stored before bulk ones (floods).
LOGS_LINES = ConsumerSpec(
    stream=LOGS.name,
    durable="logs-lines",
    filter_subject=PROMPT_LOG_SUBJECTS,
    ack_wait_seconds=15,
    max_deliver=-1,
    max_ack_pending=4096,
)
LOGS_BULK_LINES = ConsumerSpec(
    stream=LOGS.name,
    durable="logs-lines-bulk",
    filter_subject=BULK_LOG_SUBJECTS,
    ack_wait_seconds=15,
    max_deliver=-1,
    max_ack_pending=4096,
)

# Health: the service learns apps (config, subnet, port) and live slots from these, and turns
# its own transitions and the agent's release outcomes into webhook deliveries.
HEALTH_APP_EVENTS = ConsumerSpec(stream=EVENTS.name, durable="health-app-events", filter_subject=APP_EVENTS)
HEALTH_AGENT_EVENTS = ConsumerSpec(stream=EVENTS.name, durable="health-agent-events", filter_subject=AGENT_EVENTS)
HEALTH_ALERTS = ConsumerSpec(stream=EVENTS.name, durable="health-alerts", filter_subject=HEALTH_EVENTS)
# The API's cron run failures and missed due times become cron.failed / cron.missed webhooks (ADR 0026).
HEALTH_CRON_EVENTS = ConsumerSpec(stream=EVENTS.name, durable="health-cron-events", filter_subject=CRON_EVENTS)
# The API applies health transitions to app status/history and acts on restart requests.
API_HEALTH_EVENTS = ConsumerSpec(stream=EVENTS.name, durable="api-health-events", filter_subject=HEALTH_EVENTS)


# Whose durable consumers are whose, as (stream, durable) pairs: the NATS permissions of each
# identity are derived from this (the launcher's nats_server.py). The runtime agent owns the
# per-host consumers of the command stream (``agent-<host>``): durable ``*``, any of BERTH_CMD.
def _owned(*specs: ConsumerSpec) -> tuple[tuple[str, str], ...]:
    return tuple((spec.stream, spec.durable) for spec in specs)


OWNED_CONSUMERS: dict[str, tuple[tuple[str, str], ...]] = {
    "api": _owned(API_RELEASE_EVENTS, API_CONTAINER_EVENTS, API_HEALTH_EVENTS, API_DOMAIN_EVENTS, API_RUN_EVENTS),
    "agent": ((COMMANDS.name, "*"),),
    "router": _owned(ROUTER_APP_EVENTS),
    "logs": _owned(LOGS_APP_DELETED, LOGS_LINES, LOGS_BULK_LINES),
    "health": _owned(HEALTH_APP_DELETED, HEALTH_APP_EVENTS, HEALTH_AGENT_EVENTS, HEALTH_ALERTS, HEALTH_CRON_EVENTS),
}
