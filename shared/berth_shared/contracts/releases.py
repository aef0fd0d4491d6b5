"""Release family: the reconcile command to a runtime agent and the rollout events it emits.

Command subject: ``berth.cmd.agent.<host>.reconcile`` (BERTH_CMD, work queue; the
message id doubles as ``Nats-Msg-Id`` so a retried publish is deduplicated).
Event subjects: ``berth.evt.agent.release.<event>.<app_id>`` (BERTH_EVT).
"""

from __future__ import annotations

from typing import Literal

from berth_shared.contracts.base import Message
from berth_shared.contracts.builds import BuildLog


def reconcile_subject(host: str) -> str:
    return f"berth.cmd.agent.{host}.reconcile"


def restart_subject(host: str) -> str:
    return f"berth.cmd.agent.{host}.restart"


def agent_commands(host: str) -> str:
    return f"berth.cmd.agent.{host}.>"


def release_event_subject(event: str, app_id: str) -> str:
    return f"berth.evt.agent.release.{event}.{app_id}"


AGENT_EVENTS = "berth.evt.agent.>"
RELEASE_EVENTS = "berth.evt.agent.release.>"


class ReconcileApp(Message, kw_only=True):
    """Ask the agent to converge one app on its desired state now (level-triggered).
    ``release_id``: the release it was sent for (a deploy, restart, rollback or config change),
    whose timeline records the command's hops; empty for other reconciles."""

    app_id: str
    reason: str = ""
    release_id: str = ""


class RestartInPlace(Message, kw_only=True):
    """Restart the live container of ``release_id`` where it is (``restart?hard=true``): the
    user accepts a short outage. Reported as a ``container.restarted`` ReleaseStep."""

    app_id: str
    release_id: str


AgentCommand = ReconcileApp | RestartInPlace


# Lifecycle steps of a rollout, in order. The dashboard's timeline explains each one. The
# command's hops come first: ``command.published`` (the API's outbox handed it to JetStream;
# recorded by the API) and ``command.received`` (the agent's pull got it).
Step = Literal[
    "command.published",
    "command.received",
    "image.pulling",
    "image.resolved",
    "network.ready",
    "container.created",
    "container.started",
    "health.passed",
    "proxy.switched",
    "old.drained",
    "old.stopped",
    "container.restarted",
    # Issue 17 (ADR 0026): the release command, then every process of the release.
    "release_command.started",
    "release_command.finished",
    "process.ready",
    "process.scaled",
]


# The command's hops: they record when the command moved, not how far the rollout got (a
# release they name stays ``pending``, so a newer request still supersedes it).
COMMAND_PUBLISHED = "command.published"
COMMAND_RECEIVED = "command.received"
COMMAND_HOPS = frozenset({COMMAND_PUBLISHED, COMMAND_RECEIVED})


class ReleaseStep(Message, kw_only=True):
    app_id: str
    release_id: str
    step: str
    slot: str = ""
    detail: str = ""
    duration_ms: int = 0
    # Which process type and instance the step is about (``release`` for the release command);
    # from older agents: the one web instance.
    process: str = "web"
    instance: int = 0


class ReleaseLive(Message, kw_only=True):
    app_id: str
    release_id: str
    slot: str
    image_digest: str = ""
    container_id: str = ""
    # Every web instance serving now, in instance order (empty from older agents: the slot's
    # fixed address); the health service checks each.
    addresses: list[str] = []
    # The release runs no web instance (web at 0, a worker-only release): nothing to check, the
    # proxy answers the app's 503 page (ADR 0026). ``addresses`` is then empty.
    no_instances: bool = False


class ReleaseFailed(Message, kw_only=True):
    app_id: str
    release_id: str
    reason: str


class AppCrashed(Message, kw_only=True):
    """The live container kept dying, or the engine kept refusing to start it again (then
    ``reason`` is its last refusal); the agent stopped restarting it."""

    app_id: str
    release_id: str
    exit_code: int
    restarts: int
    reason: str = ""
    # The process type that kept dying (a crashed worker does not stop web).
    process: str = "web"


class AppCleanedUp(Message, kw_only=True):
    """Containers and network of a deleted app are gone from this host."""

    app_id: str
    host: str


AgentEvent = ReleaseStep | ReleaseLive | ReleaseFailed | AppCrashed | AppCleanedUp | BuildLog
