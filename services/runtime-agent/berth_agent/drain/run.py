"""Runs the drain rules :mod:`berth_agent.drain.decide` builds (``iptables -w``, as root, host netns),
and the drain of an old slot after a flip (:class:`Drain`: refuse new connections, let the
requests in flight finish, stop and remove it).

Thin: it only spawns iptables with prepared argument lists and reads ``/proc/net/tcp`` (the
requests in flight, :mod:`berth_agent.drain.decide_inflight`). When iptables is missing or
refuses (no privileges, no kernel support) it warns once and every drain goes on without the
rule: the proxy already sends every new request to the new slot (ADR 0025).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Iterable
from pathlib import Path

from berth_shared.contracts.desired import DesiredApp, DesiredRelease
from berth_shared.netplan import slot_address

from berth_agent.containers.run import Containers
from berth_agent.drain import decide as netfilter
from berth_agent.drain.decide import DrainRule, ListedRule
from berth_agent.drain.decide_inflight import open_connections
from berth_agent.publisher import Publisher
from berth_agent.rollout import Stopwatch
from berth_agent.state import ObservedContainer

log = logging.getLogger("berth.agent.firewall")

TCP_TABLE = Path("/proc/net/tcp")
INFLIGHT_POLL_SECONDS = 0.02


class Firewall:
    def __init__(self, instance: str, binary: str = "iptables") -> None:
        self.instance = instance
        self._binary = shutil.which(binary)
        self._warned = False
        self._draining: set[tuple[str, str]] = set()
        # Apps believed to have rules; None until the first listing. Lets the per-reconcile
        # sweep skip spawning iptables for the (usual) app that has none.
        self._known: set[str] | None = None

    @property
    def available(self) -> bool:
        return self._binary is not None

    def draining(self) -> frozenset[tuple[str, str]]:
        return frozenset(self._draining)

    def _warn_once(self, reason: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "cannot drain slots with iptables (%s): old slots are drained without refusing stragglers", reason
            )

    async def _run(self, args: list[str]) -> tuple[int, str, str]:
        if self._binary is None:
            self._warn_once("iptables not found")
            return 127, "", "iptables not found"
        try:
            process = await asyncio.create_subprocess_exec(
                self._binary,
                *args,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await process.communicate()
        except OSError as exc:
            self._warn_once(str(exc))
            return 126, "", str(exc)
        return process.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")

    # -- draining --------------------------------------------------------------------------
    async def block(self, rule: DrainRule) -> bool:
        """Refuse new connections to the rule's slot; True when the OUTPUT rule is in place."""
        self._draining.add((rule.app_id, rule.slot))
        blocked = False
        for chain in netfilter.CHAINS:
            code, _, _ = await self._run(netfilter.check_args(chain, rule))
            if code == 0:
                blocked = blocked or chain == "OUTPUT"
                continue
            code, _, err = await self._run(netfilter.insert_args(chain, rule))
            if code != 0:
                if self.available:
                    self._warn_once(f"iptables -I {chain} failed: {err.strip()}")
                continue
            blocked = blocked or chain == "OUTPUT"
        if blocked and self._known is not None:
            self._known.add(rule.app_id)
        return blocked

    async def end_drain(self, app_id: str, slot: str) -> None:
        """The drain of ``slot`` is over (its container is gone): let connections through again."""
        self._draining.discard((app_id, slot))
        await self.unblock(app_id, slot)

    # -- removal ---------------------------------------------------------------------------
    async def list_rules(self) -> list[ListedRule]:
        if not self.available:
            return []
        rules: list[ListedRule] = []
        for chain in netfilter.CHAINS:
            code, out, _ = await self._run(netfilter.list_args(chain))
            if code == 0:
                rules.extend(netfilter.parse_listing(chain, out))
        return rules

    async def remove(self, rules: list[ListedRule]) -> None:
        for rule in rules:
            code, _, err = await self._run(netfilter.delete_args(rule))
            if code != 0:  # removed concurrently: fine
                log.debug("iptables -D %s: %s", rule.chain, err.strip())

    async def unblock(self, app_id: str, slot: str | None = None, address: str | None = None) -> int:
        """Remove this app's rules (of one slot when given) unless a drain in progress owns them,
        and any other Berth instance's rule left on ``address`` (the slot about to be used)."""
        listed = await self.list_rules()
        mine = netfilter.rules_of(listed, self.instance, app_id, slot)
        doomed = [r for r in mine if (r.app_id, r.slot) not in self._draining]
        foreign = netfilter.foreign_rules_at(listed, self.instance, address) if address else []
        for rule in foreign:
            log.warning(
                "removing a drain rule another Berth instance (%s) left on %s: this app's network holds it now",
                rule.instance,
                address,
                extra={"app_id": app_id},
            )
        await self.remove(doomed + foreign)
        left = [r for r in netfilter.rules_of(listed, self.instance, app_id) if r not in doomed]
        if self._known is not None and not left:
            self._known.discard(app_id)
        if doomed:
            log.info("removed %d drain rule(s)", len(doomed), extra={"app_id": app_id})
        return len(doomed)

    async def sweep_app(self, app_id: str) -> None:
        """Remove rules left behind for ``app_id`` (crash mid-drain, app gone); cheap when none."""
        if not self.available:
            return
        if self._known is None:
            await self.stale_apps()
        if self._known is not None and app_id not in self._known:
            return
        await self.unblock(app_id)

    async def stale_apps(self) -> frozenset[str]:
        """List every rule of this instance; the apps with rules no drain in progress owns."""
        listed = await self.list_rules()
        self._known = set(netfilter.apps_with_rules(listed, self.instance)) | {a for a, _ in self._draining}
        stale = netfilter.stale_rules(listed, self.instance, self.draining())
        return frozenset(r.app_id for r in stale)


async def requests_in_flight(address: str, port: int) -> int:
    """Open connections from this network namespace (the proxy's) to ``address:port``."""
    try:
        table = await asyncio.to_thread(TCP_TABLE.read_text)
    except OSError:
        return 0
    return open_connections(table, address, port)


async def wait_for_requests(address: str, port: int, limit: float) -> int:
    """Wait until no request is in flight to ``address:port``, at most ``limit`` seconds; the
    requests still in flight then (0: all finished)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + limit
    while True:
        left = await requests_in_flight(address, port)
        if not left or loop.time() >= until:
            return left
        await asyncio.sleep(INFLIGHT_POLL_SECONDS)


class Drain:
    """Retires the old slots of a flip, one at a time; their rules never outlive the drain."""

    def __init__(self, firewall: Firewall, containers: Containers, publisher: Publisher) -> None:
        self._firewall = firewall
        self._containers = containers
        self._publish = publisher

    async def retire(self, app: DesiredApp, release: DesiredRelease, old: Iterable[ObservedContainer]) -> None:
        for container in old:
            try:
                await self.drain(app, release, container)
            finally:
                await self._firewall.end_drain(app.app_id, container.slot)

    async def drain(self, app: DesiredApp, release: DesiredRelease, container: ObservedContainer) -> None:
        """Refuse new connections to the old slot (the proxy sends none any more; this turns away
        a straggler), wait until the requests in flight there are answered (at most the stop
        timeout), then stop it: SIGTERM, and the stop timeout again before SIGKILL."""
        watch = Stopwatch()
        timeout = release.stop_timeout_seconds
        waited = ""
        if container.running:
            address = container.address or slot_address(app.subnet, container.slot)
            port = container.port or app.port
            rule = DrainRule(self._firewall.instance, app.app_id, container.slot, address, port)
            refused = f"new connections to {address}:{port} refused; " if await self._firewall.block(rule) else ""
            left = await wait_for_requests(address, port, timeout)
            unfinished = (
                f"{left} still in flight after {timeout}s" if left else f"none in flight after {watch.elapsed():.2f}s"
            )
            waited = f"{refused}requests: {unfinished}; "
        await self._containers.stop(container.container_id, timeout)
        await self._publish.step(
            app.app_id,
            release.release_id,
            "old.drained",
            slot=container.slot,
            instance=container.index,
            detail=f"{waited}{container.name} stopped (timeout {timeout}s)",
            duration_ms=watch.lap_ms(),
        )
        await self._containers.remove(container.container_id)
        await self._publish.step(
            app.app_id,
            release.release_id,
            "old.stopped",
            slot=container.slot,
            instance=container.index,
            detail=f"{container.name} removed",
            duration_ms=watch.lap_ms(),
        )
