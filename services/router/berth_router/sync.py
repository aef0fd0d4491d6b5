"""Keeps Caddy running exactly the config rendered from the routes table.

A pass renders the routes, reads Caddy's live config and loads the rendered one only when
the two differ: every load resets a few in-flight requests, so nothing is loaded twice.
Passes run when the routes (or the public names holding a certificate) change and every
few seconds, which also repairs a Caddy that restarted without its config or was changed
by hand.

One app cannot freeze routing for all (ADR 13): when Caddy refuses a load, each app's routes
are checked alone with ``caddy validate``; the apps Caddy refuses are reported (``on_refused``)
and left out, and the rest is loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from berth_shared.settings import DEFAULT_SLOT_DNS_PORT

from berth_router import caddy_validate
from berth_router.caddy_admin import CaddyAdmin, CaddyLoadFailed
from berth_router.caddy_config import PlatformRoute, Route, TlsOptions, render

log = logging.getLogger("berth.router.sync")

Refusal = Callable[[dict[str, Any]], Awaitable[str | None]]
OnRefused = Callable[[Route, str], Awaitable[None]]

CHECK_INTERVAL = 5.0
RETRY_INTERVAL = 1.0


def needs_load(rendered: dict[str, Any], live: Any) -> bool:
    return bool(rendered != live)


class CaddySync:
    def __init__(
        self,
        admin: CaddyAdmin,
        routes: Callable[[], Awaitable[list[Route]]],
        *,
        http_port: int,
        admin_socket: str,
        platform: PlatformRoute | None = None,
        tls: TlsOptions | None = None,
        log_port: int | None = None,
        secure_hosts: Callable[[], Awaitable[set[str]]] | None = None,
        refusal: Refusal = caddy_validate.refusal,
        on_refused: OnRefused | None = None,
        app_networks: Callable[[], tuple[str, ...]] | None = None,
        slot_dns_port: int = DEFAULT_SLOT_DNS_PORT,
        no_instance_dir: str | None = None,
    ) -> None:
        self.admin = admin
        self.slot_dns_port = slot_dns_port
        self.no_instance_dir = no_instance_dir
        self.platform = platform
        self.tls = tls
        self.log_port = log_port
        self.secure_hosts = secure_hosts
        self.routes = routes
        self.http_port = http_port
        self.admin_socket = admin_socket
        self.refusal = refusal
        self.on_refused = on_refused
        self.app_networks = app_networks
        self.wake = asyncio.Event()
        self.passes = 0
        """How many passes compared Caddy's config with the routes table."""
        self.loads = 0
        """How many configs this router has loaded into Caddy."""

    def routes_changed(self) -> None:
        self.wake.set()

    def render(self, routes: list[Route], secure_hosts: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
        return render(
            routes,
            http_port=self.http_port,
            admin_socket=self.admin_socket,
            platform=self.platform,
            tls=self.tls,
            log_port=self.log_port,
            secure_hosts=secure_hosts,
            slot_dns_port=self.slot_dns_port,
            no_instance_dir=self.no_instance_dir,
        )

    async def reconcile(self) -> bool:
        """One pass; True when a config was loaded."""
        if self.platform is not None and self.app_networks is not None:
            self.platform = dataclasses.replace(self.platform, app_networks=self.app_networks())
        routes = await self.routes()
        secure = await self.secure_hosts() if self.secure_hosts is not None else set()
        rendered = self.render(routes, secure)
        live = await self.admin.config()
        self.passes += 1
        if not needs_load(rendered, live):
            return False
        try:
            await self.admin.load(rendered)
        except CaddyLoadFailed as exc:
            refused = await self.refused_apps(routes, secure)
            if not refused:
                raise
            log.warning("caddy refused the config (%s); leaving out %d app(s)", exc, len(refused))
            for route, reason in refused:
                if self.on_refused is not None:
                    await self.on_refused(route, reason)
            left_out = {route.app_id for route, _ in refused}
            routes = [r for r in routes if r.app_id not in left_out]
            rendered = self.render(routes, secure)
            if not needs_load(rendered, live):
                return False
            await self.admin.load(rendered)
        self.loads += 1
        log.info("loaded caddy config with %d app route(s)", len(routes))
        return True

    async def refused_apps(self, routes: list[Route], secure: set[str]) -> list[tuple[Route, str]]:
        """The apps whose routes Caddy refuses, each checked alone in the platform's config,
        with Caddy's reason. None when the platform's own config is refused: then no app is
        to blame and nothing is left out."""
        if await self.refusal(self.render([], secure)) is not None:
            return []
        refused = []
        for route in routes:
            reason = await self.refusal(self.render([route], secure))
            if reason is not None:
                refused.append((route, reason))
        return refused

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.wake.clear()
            try:
                await self.reconcile()
                delay = CHECK_INTERVAL
            except Exception as exc:
                log.warning("caddy config not in sync, retrying: %s", exc)
                delay = RETRY_INTERVAL
            await wait_any((self.wake, stop), delay)


async def wait_any(events: tuple[asyncio.Event, ...], timeout: float) -> None:
    """Return when any event is set or ``timeout`` seconds have passed."""
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        for w in waiters:
            with contextlib.suppress(asyncio.CancelledError):
                await w
