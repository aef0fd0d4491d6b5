"""The router process: app events update the routes table, and Caddy follows the table."""

from __future__ import annotations

import asyncio
import logging
import os

from berth_shared import bus
from berth_shared.contracts.apps import AppEvent
from berth_shared.contracts.base import decode
from berth_shared.service import ServiceContext
from berth_shared.streams import ROUTER_APP_EVENTS
from nats.aio.msg import Msg

from berth_router.ask import AskServer
from berth_router.caddy_admin import CaddyAdmin
from berth_router.caddy_config import PlatformRoute
from berth_router.changes import InvalidRoute, route_change
from berth_router.store import RouteStore
from berth_router.sync import CaddySync

log = logging.getLogger("berth.router")


class Router:
    def __init__(self, store: RouteStore, admin: CaddyAdmin, sync: CaddySync, ask: AskServer | None = None) -> None:
        self.store = store
        self.admin = admin
        self.sync = sync
        self.ask = ask if ask is not None else AskServer(self.known_hosts)
        # BERTH_TLS_ASK_PORT: the ask endpoint's loopback port (default: any free one).
        self.ask_port = int(os.environ.get("BERTH_TLS_ASK_PORT") or 0)

    async def known_hosts(self) -> set[str]:
        """What the ask endpoint approves: app hostnames, attached domains, the platform's own."""
        hosts = await self.store.hosts()
        if self.sync.platform is not None:
            hosts.add(self.sync.platform.hostname)
        return hosts

    @classmethod
    def from_context(cls, ctx: ServiceContext) -> Router:
        store = RouteStore(ctx.pool)
        admin = CaddyAdmin(ctx.settings.caddy_admin_port)
        settings = ctx.settings
        sync = CaddySync(
            admin,
            store.all,
            http_port=settings.http_port,
            admin_port=settings.caddy_admin_port,
            platform=PlatformRoute(hostname=settings.domain, api_port=settings.api_port),
            https_port=settings.https_port,
            # BERTH_TLS=internal: every name gets its certificate from Caddy's internal CA.
            tls_internal=os.environ.get("BERTH_TLS", "").strip().lower() == "internal",
        )
        return cls(store, admin, sync)

    async def on_app_event(self, msg: Msg) -> None:
        """Store the route change (raising makes the bus redeliver), then let Caddy catch up.

        Loading into Caddy is the sync loop's job, retried there, so an event is acked as soon
        as its change is stored.
        """
        event = decode(msg.data, AppEvent)
        try:
            change = route_change(event)
        except InvalidRoute as exc:
            raise bus.Poison(f"app {event.app_id}: {exc}") from None
        await self.store.apply(change)
        log.info("route %s: %s", type(change).__name__.lower(), event.app_id, extra={"app_id": event.app_id})
        self.sync.routes_changed()

    async def run(self, ctx: ServiceContext) -> None:
        try:
            port = await self.ask.start(self.ask_port)
            log.info("tls ask endpoint on 127.0.0.1:%d", port)
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.sync.run(ctx.stop))
                tasks.create_task(bus.consume(ctx.js, ROUTER_APP_EVENTS, self.on_app_event, stop=ctx.stop))
        finally:
            await self.ask.close()
            await self.admin.close()


async def main(ctx: ServiceContext) -> None:
    await Router.from_context(ctx).run(ctx)
