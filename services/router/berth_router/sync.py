"""Keeps Caddy running exactly the config rendered from the routes table.

A pass renders the routes, reads Caddy's live config and loads the rendered one only when
the two differ: every load resets a few in-flight requests, so nothing is loaded twice.
Passes run when the routes (or the public names holding a certificate) change and every
few seconds, which also repairs a Caddy that restarted without its config or was changed
by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from berth_router.caddy_admin import CaddyAdmin
from berth_router.caddy_config import PlatformRoute, Route, TlsOptions, render

log = logging.getLogger("berth.router.sync")

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
        admin_port: int,
        platform: PlatformRoute | None = None,
        tls: TlsOptions | None = None,
        log_port: int | None = None,
        secure_hosts: Callable[[], Awaitable[set[str]]] | None = None,
    ) -> None:
        self.admin = admin
        self.platform = platform
        self.tls = tls
        self.log_port = log_port
        self.secure_hosts = secure_hosts
        self.routes = routes
        self.http_port = http_port
        self.admin_port = admin_port
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
            admin_port=self.admin_port,
            platform=self.platform,
            tls=self.tls,
            log_port=self.log_port,
            secure_hosts=secure_hosts,
        )

    async def reconcile(self) -> bool:
        """One pass; True when a config was loaded."""
        routes = await self.routes()
        secure = await self.secure_hosts() if self.secure_hosts is not None else set()
        rendered = self.render(routes, secure)
        live = await self.admin.config()
        self.passes += 1
        if not needs_load(rendered, live):
            return False
        await self.admin.load(rendered)
        self.loads += 1
        log.info("loaded caddy config with %d app route(s)", len(routes))
        return True

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
