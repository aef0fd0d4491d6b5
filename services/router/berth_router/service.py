"""The router process: what it consumes (app events into the routes table), its background
work (Caddy following the table, the domain loop, the TLS ``ask`` endpoint, the sink of Caddy's
logs, the slot DNS, resync from the API and of the live slots from the agent) and the queries it
answers (every hostname's state, for the API's resync, ADR 0018; the agent's slot switches,
ADR 0025). ``__main__`` only starts it."""

from __future__ import annotations

import logging

from berth_shared import bus, resync, tasks
from berth_shared.contracts.domains import DOMAIN_STATES_LIST
from berth_shared.contracts.owner_state import RESYNC_SECONDS
from berth_shared.contracts.slots import SLOT_SWITCH
from berth_shared.service import ServiceContext
from berth_shared.streams import ROUTER_APP_EVENTS, ConsumerSpec

from berth_router import domain_query, slot_switch
from berth_router.router import Router

log = logging.getLogger("berth.router")

# The durable consumers the router owns (created at start, ``OWNED_CONSUMERS`` in ``streams.py``).
CONSUMERS: list[ConsumerSpec] = [ROUTER_APP_EVENTS]


def appliers(router: Router) -> dict[str, tuple[ConsumerSpec, bus.Handler]]:
    """Each consumer the router pulls from and the applier of its events (by task name)."""
    return {"app-events": (ROUTER_APP_EVENTS, router.on_app_event)}


def responders(router: Router) -> dict[str, bus.Responder]:
    """Each query subject the router answers (queue group ``router``) and its responder."""
    return {
        DOMAIN_STATES_LIST: lambda data: domain_query.states(router.domains, data),
        SLOT_SWITCH: lambda data: slot_switch.switched(router.slots, data),
    }


async def serve(router: Router, ctx: ServiceContext, resync_interval: float = RESYNC_SECONDS) -> None:
    """Run the router until ``ctx.stop``: its consumers, Caddy sync, resync and the domain loop."""
    try:
        port = await router.ask.start(router.ask_port)
        log.info("tls ask endpoint on 127.0.0.1:%d", port)
        await router.sink.start(router.log_port)
        port = await router.slots.dns.start(router.slot_dns_port)
        log.info("slot dns on 127.0.0.1:%d (udp)", port)
        await router.follow_routes()
        for subject, responder in responders(router).items():
            await bus.serve(ctx.nc, subject, "router", responder)
        work = {
            "caddy-sync": router.sync.run(ctx.stop),
            **{
                name: bus.consume(ctx.js, spec, handler, stop=ctx.stop)
                for name, (spec, handler) in appliers(router).items()
            },
            "resync": resync.periodically(
                ctx.stop, lambda: router.resync(ctx), what="routes", interval=resync_interval
            ),
            # At start the agent may not answer yet: until it does, Caddy falls back to both slots.
            "slot-resync": resync.periodically(
                ctx.stop, lambda: router.slots.resync(ctx.nc), what="live slots", interval=resync_interval
            ),
        }
        if router.proxy_log is not None:
            work["proxy-log-repeats"] = router.proxy_log.summarize_repeats(ctx.stop)
        if router.watcher is not None:
            work["domains"] = router.watcher.run(ctx.stop)
            work["domain-app-log"] = router.watcher.app_log.run(ctx.stop)
        await tasks.run_all(work)
    finally:
        await router.ask.close()
        await router.sink.close()
        await router.slots.dns.close()
        await router.admin.close()


async def main(ctx: ServiceContext, resync_interval: float = RESYNC_SECONDS) -> None:
    await serve(Router.from_context(ctx), ctx, resync_interval)
