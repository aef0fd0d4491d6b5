"""Answering ``berth.rpc.agent.<host>.status`` (is the agent up, can it reach Docker, how full
are its disks?) and ``berth.rpc.agent.<host>.images`` (which images does the host have?)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import aiodocker
from berth_shared.contracts.agent import (
    AgentStatus,
    DiskUsage,
    ImagesPresence,
    ImagesQuery,
    agent_images_subject,
    agent_status_subject,
)
from berth_shared.contracts.base import decode, encode
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from berth_agent.answers import answer_or_stay_silent
from berth_agent.engine import ENGINE_DOWN_ERRORS
from berth_agent.observe import count_containers

STATUS_ERRORS: tuple[type[BaseException], ...] = (*ENGINE_DOWN_ERRORS, aiodocker.DockerError)


Disks = Callable[[], Awaitable[list[DiskUsage]]]


async def agent_status(docker: aiodocker.Docker, instance: str, host: str, disks: Disks | None = None) -> AgentStatus:
    measured = await disks() if disks is not None else []
    try:
        containers = await count_containers(docker, instance)
    except STATUS_ERRORS as exc:
        return AgentStatus(host=host, engine_ok=False, engine_error=f"{type(exc).__name__}: {exc}", disks=measured)
    return AgentStatus(host=host, engine_ok=True, containers=containers, disks=measured)


async def serve_status(
    nc: Client, docker: aiodocker.Docker, instance: str, host: str, disks: Disks | None = None
) -> Subscription:
    async def on_request(msg: Msg) -> None:
        status = await agent_status(docker, instance, host, disks)
        if msg.reply:
            with contextlib.suppress(Exception):
                await msg.respond(encode(status))

    return await nc.subscribe(agent_status_subject(host), queue="agent", cb=on_request)


async def image_presence(docker: aiodocker.Docker, refs: list[str]) -> ImagesPresence:
    """Which of ``refs`` the engine has (an engine error propagates: no answer is better than a wrong one)."""
    present: list[str] = []
    missing: list[str] = []
    for ref in dict.fromkeys(refs):
        try:
            await docker.images.inspect(ref)
        except aiodocker.DockerError as exc:
            if exc.status != 404:
                raise
            missing.append(ref)
        else:
            present.append(ref)
    return ImagesPresence(present=present, missing=missing)


async def serve_images(nc: Client, docker: aiodocker.Docker, host: str) -> Subscription:
    # Unknown: the asker goes ahead and the rollout says what it finds.
    return await answer_or_stay_silent(
        nc,
        agent_images_subject(host),
        lambda data: image_presence(docker, decode(data, ImagesQuery).refs[:200]),
        "image presence",
    )
