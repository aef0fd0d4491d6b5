"""The runtime agent process: the durable consumer it owns (``agent-<host>``, its commands), the
queries it answers (status, images, holdings, serving slots), its background work (the reconcile
loop, the disk watch). ``__main__`` only starts it."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

import aiodocker
from berth_shared import disk, tasks
from berth_shared.contracts.releases import ReleaseStep
from berth_shared.service import ServiceContext
from berth_shared.streams import ConsumerSpec, agent_command_consumer

from berth_agent.consumers import commands
from berth_agent.disk_watch import DiskWatch
from berth_agent.images.store import MIGRATION_IMAGE_ORIGIN, MIGRATION_IMAGES
from berth_agent.logs.store import MIGRATION_LOG_CURSORS
from berth_agent.loop import Agent
from berth_agent.responders.holdings import serve_holdings
from berth_agent.responders.slots import serve_slots
from berth_agent.responders.status import serve_images, serve_status
from berth_agent.state import CrashPolicy
from berth_agent.volumes.store import MIGRATION_VOLUMES

log = logging.getLogger("berth.agent")

# Identity lives on the containers, truth in the API. The agent's tables: the images it brought
# into use and where each came from (so pruning never touches anything else on the host, nor
# a user's own image), and where log collection stands
# per container and stream (so a restart resumes without gap or duplicate). Append only.
MIGRATIONS: list[str] = [MIGRATION_IMAGES, MIGRATION_LOG_CURSORS, MIGRATION_IMAGE_ORIGIN, MIGRATION_VOLUMES]


def consumers(host: str) -> list[ConsumerSpec]:
    """The durable consumers the agent of ``host`` owns (created at start)."""
    return [agent_command_consumer(host)]


async def main(
    ctx: ServiceContext, policy: CrashPolicy | None = None, *, started: Callable[[Agent], None] | None = None
) -> None:
    host = ctx.settings.host_id
    async with aiodocker.Docker() as docker:
        agent = Agent(
            docker,
            ctx.nc,
            ctx.js,
            instance=ctx.env.instance,
            host=host,
            policy=policy or CrashPolicy(),
            pool=ctx.pool,
        )
        if started is not None:
            started(agent)
        s = ctx.settings
        marks = disk.Watermarks(s.disk_prune_percent, s.disk_refuse_percent)
        watch = DiskWatch(docker, s.home, marks, float(s.disk_check_seconds), agent.prune_images)
        status = await serve_status(ctx.nc, docker, ctx.env.instance, host, watch.usages)
        images = await serve_images(ctx.nc, docker, host)
        held = await serve_holdings(ctx.nc, docker, ctx.env.instance, host, agent.memory)
        slots = await serve_slots(ctx.nc, docker, ctx.env.instance, host, agent.memory)
        log.info("runtime agent for host %s, instance %s", host, ctx.env.instance)

        async def report(step: ReleaseStep) -> None:  # a command's arrival, on its release's timeline
            await agent.publisher.release_event("step", step.app_id, step)

        try:
            await tasks.run_all(
                {
                    "agent": agent.run(),
                    "commands": commands.consume(ctx.js, agent_command_consumer(host), agent.dispatch, report),
                    "disk-watch": watch.run(),
                }
            )
        finally:
            for subscription in (status, images, held, slots):
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()
