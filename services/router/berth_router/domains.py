"""The router's domain loop: verify attached hostnames, get their certificates, announce states.

Each pass follows the routes table (rows for attached names), runs the checks that are due
(decisions in :mod:`berth_router.domain_checks`, I/O here), and announces changed states as
``DomainStatusChanged`` for the API. Changes also go to the app's proxy log, and a change in
which public names hold a certificate wakes the Caddy sync (HTTP→HTTPS redirects).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from berth_shared import bus
from berth_shared.contracts.domains import DomainStatusChanged, domain_subject
from nats.js import JetStreamContext

from berth_router import certificates
from berth_router.domain_checks import (
    DomainState,
    after_certificate_check,
    after_verification,
    needs_verification,
)
from berth_router.domain_store import DomainStore
from berth_router.proxy_logs import AppLogWriter
from berth_router.sync import wait_any
from berth_router.verify import Verifier

log = logging.getLogger("berth.router.domains")

TICK = 1.0


def describe(state: DomainState) -> str:
    """The proxy-log line for a state users can see."""
    if state.tls_state == "issued":
        return f"tls: {state.hostname}: certificate issued ({state.issuer} CA); HTTPS is served"
    if state.tls_state == "failed":
        return f"tls: {state.hostname}: failed: {state.reason} (retrying)"
    if state.verified_at is not None:
        return f"tls: {state.hostname}: verified by {state.verify_method}; asking the CA for a certificate"
    return f"tls: {state.hostname}: waiting for a certificate from the {state.issuer} CA"


class DomainWatcher:
    def __init__(
        self,
        store: DomainStore,
        verifier: Verifier,
        *,
        js: JetStreamContext,
        app_log: AppLogWriter,
        certificate_root: Path,
        https_port: int,
        secure_changed: Callable[[], None],
    ) -> None:
        self.store = store
        self.verifier = verifier
        self.js = js
        self.app_log = app_log
        self.root = certificate_root
        self.https_port = https_port
        self.secure_changed = secure_changed
        self.wake = asyncio.Event()
        # Work a pass does only when there is some (true at start: after a restart, catch up).
        self.routes_dirty = True
        self.announce_pending = True
        # The last certificate error Caddy reported per hostname (from its TLS log).
        self.tls_errors: dict[str, str] = {}
        self.requests: dict[str, asyncio.Task[None]] = {}

    def routes_changed(self) -> None:
        self.routes_dirty = True
        self.wake.set()

    def tls_error(self, hostname: str, error: str) -> None:
        self.tls_errors[hostname] = error
        self.wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.wake.clear()
            try:
                if self.routes_dirty:
                    self.routes_dirty = False
                    await self.store.follow_routes()
                    self.announce_pending = True  # new rows are announced as pending
                for state in await self.store.due(datetime.now(UTC)):
                    await self.check(state)
                    self.announce_pending = True  # a check may have stored a new version
                if self.announce_pending:
                    self.announce_pending = False
                    await self.announce()
            except Exception as exc:  # Postgres or the bus is down: the next pass retries
                self.routes_dirty = self.announce_pending = True
                log.warning("domain pass failed, retrying: %s", exc)
            await wait_any((self.wake, stop), TICK)
        for task in self.requests.values():
            task.cancel()

    async def check(self, state: DomainState) -> None:
        now = datetime.now(UTC)
        if needs_verification(state):
            verdict = await self.verifier.check(state.hostname)
            after = after_verification(state, verdict, datetime.now(UTC))
        else:
            after = after_certificate_check(
                state,
                has_certificate=certificates.has_certificate(self.root, state.hostname),
                tls_error=self.tls_errors.pop(state.hostname, None),
                now=now,
            )
            if after.tls_state == "pending" and state.issuer == "acme":
                self.request_certificate(state.hostname)
        if await self.store.save(state, after, now):
            log.info("%s", describe(after), extra={"app_id": after.app_id})
            self.app_log.write(after.app_id, describe(after))
            if "issued" in (state.tls_state, after.tls_state) and after.issuer == "acme":
                self.secure_changed()

    def request_certificate(self, hostname: str) -> None:
        """One handshake at a time per name: Caddy obtains the certificate while it waits."""
        running = self.requests.get(hostname)
        if running is not None and not running.done():
            return

        async def handshake() -> None:
            error = await certificates.request_certificate(self.https_port, hostname)
            if error and not certificates.has_certificate(self.root, hostname):
                log.info("certificate request for %s: %s", hostname, error)
            self.wake.set()

        self.requests[hostname] = asyncio.create_task(handshake(), name=f"certificate {hostname}")

    async def announce(self) -> None:
        for state, version, changed_at in await self.store.unannounced():
            event = DomainStatusChanged(
                app_id=state.app_id,
                hostname=state.hostname,
                issuer=state.issuer,
                verified_at=state.verified_at,
                verify_method=state.verify_method,
                tls_state=state.tls_state,
                reason=state.reason,
                checked_at=state.checked_at,
                at=changed_at,
            )
            msg_id = f"domain:{state.hostname}:{changed_at.isoformat()}:{version}"
            await bus.publish(self.js, domain_subject(state.app_id), event, msg_id=msg_id)
            await self.store.announced(state.hostname, version)
