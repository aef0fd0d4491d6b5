"""Following Docker's event stream for this instance's containers.

Docker replays only its last 256 events, so every (re)connect calls ``on_connect`` and the
agent re-lists what runs instead of trusting the stream to be complete.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Set
from dataclasses import dataclass
from typing import Any, cast

import aiodocker
from aiodocker.events import DockerEvents
from berth_shared import labels
from berth_shared.contracts.base import Message
from berth_shared.contracts.containers import ContainerExited, ContainerOomKilled, ContainerStarted

log = logging.getLogger("berth.agent.docker_events")

WATCHED = ("start", "die", "oom")
# Probing the engine (``/version``) is cheap; an engine back from a restart must be noticed within
# a second, since every app's recovery waits for it (target: all apps serve within 10 s).
RECONNECT_SECONDS = (0.2, 0.5, 1.0)


@dataclass(frozen=True)
class ContainerEvent:
    """A watched Docker event, as the bus message to publish and its subject's event name."""

    event: str
    app_id: str
    container_id: str
    message: Message

    @property
    def died(self) -> bool:
        return self.event == "exited"


def event_filters(instance: str) -> str:
    return json.dumps({"type": ["container"], "event": list(WATCHED), "label": labels.instance_filter(instance)})


def to_container_event(raw: dict[str, Any], expected_stops: Set[str]) -> ContainerEvent | None:
    """The bus message for one raw Docker event; None for events Berth does not report."""
    actor = raw.get("Actor") or {}
    attributes: dict[str, str] = actor.get("Attributes") or {}
    container_id = str(actor.get("ID") or raw.get("id") or "")
    app_id = attributes.get(labels.APP, "")
    if not app_id or not container_id:
        return None
    release_id = attributes.get(labels.RELEASE, "")
    slot = attributes.get(labels.SLOT, "")
    index = attributes.get(labels.INDEX, "0")
    # ADR 0026: which process and instance (containers from before it: web 0), or which run.
    identity: dict[str, Any] = {
        "process": attributes.get(labels.PROCESS) or "web",
        "index": int(index) if index.isdigit() else 0,
        "run_id": attributes.get(labels.RUN, ""),
    }
    action = raw.get("Action") or raw.get("status")
    if action == "start":
        started = ContainerStarted(
            app_id=app_id, release_id=release_id, slot=slot, container_id=container_id, **identity
        )
        return ContainerEvent("started", app_id, container_id, started)
    if action == "die":
        exited = ContainerExited(
            app_id=app_id,
            release_id=release_id,
            slot=slot,
            container_id=container_id,
            exit_code=int(attributes.get("exitCode") or 0),
            expected=container_id in expected_stops,
            **identity,
        )
        return ContainerEvent("exited", app_id, container_id, exited)
    if action == "oom":
        oom = ContainerOomKilled(app_id=app_id, release_id=release_id, slot=slot, container_id=container_id, **identity)
        return ContainerEvent("oom_killed", app_id, container_id, oom)
    return None


OnEvent = Callable[[dict[str, Any]], Awaitable[None]]


async def stream_once(
    docker: aiodocker.Docker, instance: str, on_event: OnEvent, on_connect: Callable[[], None]
) -> None:
    """One connection to the event stream, until it ends or fails."""
    events: Any = cast(Any, DockerEvents)(docker)
    subscriber = events.subscribe(create_task=False)
    reader = asyncio.create_task(events.run(filters=event_filters(instance)))
    try:
        on_connect()
        while (raw := await subscriber.get()) is not None:
            await on_event(raw)
    finally:
        reader.cancel()
        outcomes: list[BaseException | None] = await asyncio.gather(reader, return_exceptions=True)
        outcome = outcomes[0]
        if isinstance(outcome, Exception):
            log.warning("docker event stream ended: %s", outcome)


async def follow(docker: aiodocker.Docker, instance: str, on_event: OnEvent, on_connect: Callable[[], None]) -> None:
    """Follow the event stream forever, reconnecting with backoff while the engine is down."""
    failures = 0
    while True:
        try:
            await docker.version()
        except Exception as exc:
            delay = RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)]
            failures += 1
            log.warning("docker engine unreachable (%s); retrying in %gs", exc, delay)
            await asyncio.sleep(delay)
            continue
        failures = 0
        try:
            await stream_once(docker, instance, on_event, on_connect)
        except Exception:
            log.exception("docker event handling failed")
        await asyncio.sleep(RECONNECT_SECONDS[0])
