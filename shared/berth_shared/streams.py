"""Every JetStream stream and durable consumer Berth uses, declared in one place.

Services call :func:`berth_shared.bus.ensure_stream` / ``ensure_consumer`` with these at
start; creation is idempotent, so any service may start first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from berth_shared.contracts.apps import APP_DELETED_EVENTS, APP_EVENTS
from berth_shared.contracts.containers import CONTAINER_EVENTS
from berth_shared.contracts.domains import DOMAIN_EVENTS
from berth_shared.contracts.health import HEALTH_EVENTS
from berth_shared.contracts.logs import LOG_SUBJECTS
from berth_shared.contracts.releases import AGENT_EVENTS, RELEASE_EVENTS, agent_commands

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
LOGS_APP_DELETED = ConsumerSpec(stream=EVENTS.name, durable="logs-app-deleted", filter_subject=APP_DELETED_EVENTS)
HEALTH_APP_DELETED = ConsumerSpec(stream=EVENTS.name, durable="health-app-deleted", filter_subject=APP_DELETED_EVENTS)
# The logs service persists batches and acks them only after they are committed; a failing
# database never drops lines (max_deliver -1: redelivered until stored, or terminated as poison).
LOGS_LINES = ConsumerSpec(
    stream=LOGS.name,
    durable="logs-lines",
    filter_subject=LOG_SUBJECTS,
    ack_wait_seconds=15,
    max_deliver=-1,
    max_ack_pending=4096,
)

# Health: the service learns apps (config, subnet, port) and live slots from these, and turns
# its own transitions and the agent's release outcomes into webhook deliveries.
HEALTH_APP_EVENTS = ConsumerSpec(stream=EVENTS.name, durable="health-app-events", filter_subject=APP_EVENTS)
HEALTH_AGENT_EVENTS = ConsumerSpec(stream=EVENTS.name, durable="health-agent-events", filter_subject=AGENT_EVENTS)
HEALTH_ALERTS = ConsumerSpec(stream=EVENTS.name, durable="health-alerts", filter_subject=HEALTH_EVENTS)
# The API applies health transitions to app status/history and acts on restart requests.
API_HEALTH_EVENTS = ConsumerSpec(stream=EVENTS.name, durable="api-health-events", filter_subject=HEALTH_EVENTS)
