"""Publishing the agent's events on BERTH_EVT, each with its message id as ``Nats-Msg-Id``."""

from __future__ import annotations

import asyncio
import logging

import msgspec
from berth_shared import bus
from berth_shared.contracts.containers import container_event_subject
from berth_shared.contracts.releases import ReleaseStep, release_event_subject
from nats.js import JetStreamContext

log = logging.getLogger("berth.agent.publisher")

ATTEMPTS = 3


class Publisher:
    def __init__(self, js: JetStreamContext) -> None:
        self._js = js

    async def release_event(self, event: str, app_id: str, message: msgspec.Struct) -> None:
        await self._publish(release_event_subject(event, app_id), message)

    async def container_event(self, event: str, app_id: str, message: msgspec.Struct) -> None:
        await self._publish(container_event_subject(event, app_id), message)

    async def step(
        self,
        app_id: str,
        release_id: str,
        step: str,
        *,
        slot: str = "",
        detail: str = "",
        duration_ms: int = 0,
        process: str = "web",
        instance: int = 0,
    ) -> None:
        message = ReleaseStep(
            app_id=app_id,
            release_id=release_id,
            step=step,
            slot=slot,
            detail=detail,
            duration_ms=duration_ms,
            process=process,
            instance=instance,
        )
        await self.release_event("step", app_id, message)

    async def _publish(self, subject: str, message: msgspec.Struct) -> None:
        """Publish with a few retries; the same message id makes a retried publish a duplicate."""
        msg_id = getattr(message, "id", None)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                await bus.publish(self._js, subject, message, msg_id=msg_id)
                return
            except Exception as exc:
                if attempt == ATTEMPTS:
                    log.error("could not publish %s on %s: %s", type(message).__name__, subject, exc)
                    return
                await asyncio.sleep(0.2 * attempt)
