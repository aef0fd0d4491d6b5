"""Answering ``berth.rpc.agent.<host>.apps``: what the agent holds on the host for every app
(containers, networks) and what this process remembers (live and failed releases, clean-ups).

The API compares it with what it recorded and applies an event it missed (ADR 0018): a
``ReleaseLive``, ``ReleaseFailed`` or ``AppCleanedUp`` lost while the agent keeps running."""

from __future__ import annotations

from typing import Any

import aiodocker
from berth_shared.contracts.agent import AgentApps, HeldApp, HeldContainer, agent_apps_subject
from berth_shared.contracts.base import utcnow
from nats.aio.client import Client
from nats.aio.subscription import Subscription

from berth_agent.answers import answer_or_stay_silent
from berth_agent.memory import MemoryStore
from berth_agent.observe import inspect_containers, label_filters, parse_container, parse_network
from berth_agent.state import Memory


def held_apps(
    host: str, inspected: list[dict[str, Any]], networks: list[dict[str, Any]], memory: Memory
) -> list[HeldApp]:
    """The answer, from inspected containers, listed networks and the memory snapshot (pure)."""
    containers: dict[str, list[HeldContainer]] = {}
    for raw in inspected:
        parsed = parse_container(raw)
        if parsed is None:
            continue
        held = HeldContainer(
            release_id=parsed.release_id,
            slot=parsed.slot,
            container_id=parsed.container_id,
            image_id=str(raw.get("Image") or ""),
            running=parsed.running,
            process=parsed.process,
            index=parsed.index,
            run_id=parsed.run_id,
            address=parsed.address,
        )
        containers.setdefault(parsed.app_id, []).append(held)
    with_network = {n.app_id for n in (parse_network(raw) for raw in networks) if n is not None}
    apps = []
    for app_id in sorted(set(containers) | with_network | set(memory.apps)):
        remembered = memory.of(app_id)
        apps.append(
            HeldApp(
                app_id=app_id,
                containers=containers.get(app_id, []),
                network=app_id in with_network,
                live_release=remembered.live_release,
                failed_releases=sorted(remembered.failed_releases),
                cleaned_up=remembered.cleaned_up,
            )
        )
    return apps


async def holdings(docker: aiodocker.Docker, instance: str, host: str, memory: MemoryStore) -> AgentApps:
    """Read the memory first: a clean-up it records happened before the engine is listed."""
    at = utcnow()
    snapshot = memory.snapshot()
    filters = label_filters(instance)
    inspected = await inspect_containers(docker, filters)
    networks = await docker.networks.list(filters={"label": filters})
    return AgentApps(host=host, at=at, apps=held_apps(host, inspected, networks, snapshot))


async def serve_holdings(
    nc: Client, docker: aiodocker.Docker, instance: str, host: str, memory: MemoryStore
) -> Subscription:
    # The engine down: no answer is better than an empty one.
    return await answer_or_stay_silent(
        nc, agent_apps_subject(host), lambda _: holdings(docker, instance, host, memory), "holdings"
    )
