"""The router's parts wired together: app events update the routes table, and Caddy follows
the table (:mod:`berth_router.service` runs them); the agent's switches update the live-slot
table, which the slot DNS answers Caddy from (ADR 0025).

Beside that it holds the domain loop (verification and certificates of attached names), the
``ask`` endpoint Caddy consults before obtaining a public certificate, and the sink of Caddy's
TLS and error logs, which it turns into lines in each app's proxy log.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from berth_shared import build_network, bus, resync
from berth_shared.contracts.apps import AppEvent
from berth_shared.contracts.base import decode
from berth_shared.contracts.domains import is_local_name
from berth_shared.errors import ValidationFailed
from berth_shared.service import ServiceContext
from nats.aio.msg import Msg

from berth_router import app_networks, certificates, dns
from berth_router.ask import AskServer
from berth_router.caddy_admin import CaddyAdmin
from berth_router.caddy_config import AcmeIssuer, PlatformRoute, Route, TlsOptions
from berth_router.domain_store import DomainStore
from berth_router.domains import DomainWatcher
from berth_router.live_slots import Slots
from berth_router.no_instance_marks import NoInstanceMarks
from berth_router.proxy_logs import AppLogWriter, ProxyLog, ProxyLogSink
from berth_router.resync import RouteResync, route_resync
from berth_router.route_changes import InvalidRoute, Remove, Upsert, route_change
from berth_router.routes_store import RouteStore
from berth_router.slot_dns import SlotDns
from berth_router.sync import CaddySync
from berth_router.verify import Tokens, Verifier

log = logging.getLogger("berth.router")


@dataclass(frozen=True)
class TlsEnv:
    """The router's TLS settings (environment variables, checked at start)."""

    internal_all: bool = False
    acme: AcmeIssuer = field(default_factory=AcmeIssuer)
    dns_server: tuple[str, int] | None = None
    # The host's public addresses; empty: the addresses of its interfaces.
    public_addresses: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TlsEnv:
        mode = env.get("BERTH_TLS", "").strip().lower()
        if mode not in ("", "auto", "internal"):
            raise ValidationFailed.on("BERTH_TLS", f"must be 'auto' or 'internal', got {mode!r}")
        roots = tuple(p.strip() for p in env.get("BERTH_ACME_CA_ROOT", "").split(",") if p.strip())
        acme = AcmeIssuer(
            ca=env.get("BERTH_ACME_CA") or None, trusted_roots=roots, email=env.get("BERTH_ACME_EMAIL") or None
        )
        server = None
        if env.get("BERTH_DNS_SERVER"):
            try:
                server = dns.parse_server(env["BERTH_DNS_SERVER"])
            except ValueError as exc:
                raise ValidationFailed.on("BERTH_DNS_SERVER", str(exc)) from None
        addresses: set[str] = set()
        for raw in env.get("BERTH_PUBLIC_ADDRESSES", "").split(","):
            if raw.strip():
                try:
                    addresses.add(str(ipaddress.ip_address(raw.strip())))
                except ValueError:
                    raise ValidationFailed.on(
                        "BERTH_PUBLIC_ADDRESSES", f"{raw.strip()!r} is not an IP address"
                    ) from None
        return cls(internal_all=mode == "internal", acme=acme, dns_server=server, public_addresses=frozenset(addresses))

    def own_addresses(self) -> set[str]:
        return set(self.public_addresses) or dns.local_addresses()


class Router:
    def __init__(
        self,
        store: RouteStore,
        admin: CaddyAdmin,
        sync: CaddySync,
        domains: DomainStore,
        watcher: DomainWatcher | None = None,
        *,
        ask_port: int = 0,
        log_port: int = 0,
        tokens: Tokens | None = None,
        slots: Slots | None = None,
        slot_dns_port: int = 0,
    ) -> None:
        self.store = store
        self.slots = slots or Slots(SlotDns())
        self.slot_dns_port = slot_dns_port
        self.admin = admin
        self.sync = sync
        self.domains = domains
        self.watcher = watcher
        self.ask_port = ask_port
        self.log_port = log_port
        self.ask = AskServer(self.approved_hosts, token=tokens, on_refused=self.ask_refused)
        self.proxy_log: ProxyLog | None = None
        if watcher is not None:
            self.proxy_log = ProxyLog(
                watcher.app_log, tls_internal=domains.tls_internal, on_tls_error=watcher.tls_error
            )
        self.sink = ProxyLogSink(self.on_caddy_log)

    @classmethod
    def from_context(cls, ctx: ServiceContext) -> Router:
        settings = ctx.settings
        tls_env = TlsEnv.from_env(os.environ)
        store = RouteStore(ctx.pool)
        domains = DomainStore(ctx.pool, tls_internal=tls_env.internal_all)
        admin = CaddyAdmin(str(settings.caddy_admin_socket))
        tls = TlsOptions(
            https_port=settings.https_port,
            ask_port=settings.tls_ask_port,
            internal_all=tls_env.internal_all,
            acme=tls_env.acme,
        )
        marks = NoInstanceMarks(settings.home / "router" / "no-instance")
        sync = CaddySync(
            admin,
            store.all,
            http_port=settings.http_port,
            admin_socket=str(settings.caddy_admin_socket),
            platform=PlatformRoute(
                hostname=settings.domain,
                api_port=settings.api_port,
                proxy_secret=os.environ.get("BERTH_PROXY_SECRET", ""),
                dashboard=settings.public_dashboard,
            ),
            app_networks=lambda: app_networks.app_networks(
                str(settings.subnet_pool),
                app_networks.read_route_table(),
                (build_network.bridge_name(ctx.env.instance),),
            ),
            tls=tls,
            log_port=settings.proxy_log_port,
            slot_dns_port=settings.slot_dns_port,
            no_instance_dir=str(marks.directory),
        )
        tokens = Tokens()
        verifier = Verifier(
            http_port=settings.http_port,
            own_addresses=tls_env.own_addresses,
            tokens=tokens,
            dns_server=tls_env.dns_server,
        )
        watcher = DomainWatcher(
            domains,
            verifier,
            js=ctx.js,
            app_log=AppLogWriter(ctx.js, settings.host_id),
            certificate_root=certificates.storage_root(settings.home),
            https_port=settings.https_port,
            secure_changed=sync.routes_changed,
        )
        router = cls(
            store,
            admin,
            sync,
            domains,
            watcher,
            ask_port=settings.tls_ask_port,
            log_port=settings.proxy_log_port,
            tokens=tokens,
            slots=Slots(SlotDns(), host=settings.host_id, marks=marks),
            slot_dns_port=settings.slot_dns_port,
        )
        sync.secure_hosts = router.secure_hosts
        sync.on_refused = router.route_refused
        return router

    async def approved_hosts(self) -> set[str]:
        """What the ask endpoint approves for an ACME certificate: public generated hostnames and
        the platform's own (the operator pointed them here), and attached domains once verified.
        Local names never: their certificates come from the internal CA, never from a public one
        (a handshake that arrives before Caddy has their policy must not send them to a CA)."""
        if self.domains.tls_internal:
            return set()
        return await self.approved_generated() | await self.domains.approved()

    async def secure_hosts(self) -> set[str]:
        """Public names holding a certificate, redirected from HTTP to HTTPS: attached domains
        (from their state) and generated hostnames or the platform's own (from Caddy's storage)."""
        if self.watcher is None:
            return set()
        generated = await self.approved_generated()
        return await self.domains.secure() | {
            h for h in generated if certificates.has_certificate(self.watcher.root, h)
        }

    async def approved_generated(self) -> set[str]:
        if self.domains.tls_internal:
            return set()
        generated = await self.store.generated_hosts()
        if self.sync.platform is not None:
            generated.add(self.sync.platform.hostname)
        return {h for h in generated if not is_local_name(h)}

    async def ask_refused(self, hostname: str, reason: str) -> None:
        """An attached name Caddy wanted a certificate for, refused: say so in its app's proxy log."""
        app_id = await self.domains.app_of(hostname)
        if app_id is not None and self.proxy_log is not None:
            self.proxy_log.write(app_id, f"tls: {hostname}: certificate not requested: not verified yet", "ask-refused")

    async def route_refused(self, route: Route, reason: str) -> None:
        """Caddy refuses this app's routes: it is left out of routing until its route changes,
        and its proxy log says why (the other apps keep routing)."""
        if not await self.store.refuse(route, reason):
            return
        log.warning("app %s left out of routing: caddy refuses its routes: %s", route.app_id, reason)
        if self.proxy_log is not None:
            self.proxy_log.write(
                route.app_id,
                f"routing: caddy refuses this app's routes, so it is not served until they change: {reason}",
                "route-refused",
            )

    async def on_caddy_log(self, entry: dict[str, Any]) -> None:
        if self.proxy_log is not None:
            await self.proxy_log.on_caddy_entry(entry)

    async def follow_routes(self) -> None:
        """The routes table changed: the proxy log's hosts and the slot DNS's apps follow it."""
        routes = await self.store.all()
        if self.proxy_log is not None:
            self.proxy_log.app_of_host = {h: r.app_id for r in routes for h in r.hosts}
        self.slots.follow_routes(routes)

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
        if isinstance(change, Remove):
            self.slots.forget(event.app_id)
        await self.follow_routes()
        self.sync.routes_changed()
        if self.watcher is not None:
            self.watcher.routes_changed()

    async def resync(self, ctx: ServiceContext) -> RouteResync:
        """Repair the routes table from the API's app list (lost app events; ADR 0018)."""
        held, owner = await resync.held_then_owner(ctx.nc, "router", self.store.held)
        plan = route_resync(held, owner.apps)
        for app_id, reason in plan.invalid:
            log.warning("resync: app %s cannot be routed: %s", app_id, reason, extra={"app_id": app_id})
        for route in plan.upserts:
            await self.store.upsert(Upsert(route=route, at=owner.as_of))
            log.warning("resync: route of app %s repaired (an app event was lost)", route.app_id)
        for app_id in plan.removals:
            await self.store.remove(Remove(app_id=app_id, at=owner.as_of))
            self.slots.forget(app_id)
            log.warning("resync: route of deleted app %s removed (its AppDeleted was lost)", app_id)
        if plan.changes:
            await self.follow_routes()
            self.sync.routes_changed()
            if self.watcher is not None:
                self.watcher.routes_changed()
        return plan
