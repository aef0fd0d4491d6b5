"""Answering ``berth.rpc.agent.<host>.status``: is the agent up, and can it reach Docker?"""

from __future__ import annotations

import contextlib
import logging

import aiodocker
from berth_shared.contracts.agent import AgentStatus, agent_status_subject
from berth_shared.contracts.base import encode
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from berth_agent.engine import ENGINE_DOWN_ERRORS
from berth_agent.observe import count_containers

log = logging.getLogger("berth.agent.status")

STATUS_ERRORS: tuple[type[BaseException], ...] = (*ENGINE_DOWN_ERRORS, aiodocker.DockerError)


async def agent_status(docker: aiodocker.Docker, instance: str, host: str) -> AgentStatus:
    try:
        containers = await count_containers(docker, instance)
    except STATUS_ERRORS as exc:
        return AgentStatus(host=host, engine_ok=False, engine_error=f"{type(exc).__name__}: {exc}")
    return AgentStatus(host=host, engine_ok=True, containers=containers)


async def serve_status(nc: Client, docker: aiodocker.Docker, instance: str, host: str) -> Subscription:
    async def on_request(msg: Msg) -> None:
        status = await agent_status(docker, instance, host)
        if msg.reply:
            with contextlib.suppress(Exception):
                await msg.respond(encode(status))

    return await nc.subscribe(agent_status_subject(host), queue="agent", cb=on_request)
