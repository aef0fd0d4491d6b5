"""Asks this host's runtime agent which images it still has, so rollbacks to a pruned image are
refused at once and release lists can mark targets that are gone."""

from __future__ import annotations

import logging

from berth_shared.contracts.agent import ImagesPresence, ImagesQuery, agent_images_subject
from berth_shared.errors import BerthError
from nats.aio.client import Client

from berth_api import rpc

log = logging.getLogger("berth.api.images")


async def missing_images(nc: Client, host: str, refs: list[str], timeout: float = 1.5) -> set[str] | None:
    """The refs the host does not have, or None when the agent cannot say (not running, engine
    down): then nothing is refused, and the rollout reports what it finds."""
    if not refs:
        return set()
    try:
        answer = await rpc.ask(
            nc, agent_images_subject(host), ImagesQuery(refs=refs), ImagesPresence, service=rpc.AGENT, timeout=timeout
        )
    except BerthError as exc:
        log.info("image presence unknown: %s", type(exc).__name__)
        return None
    return set(answer.missing)
