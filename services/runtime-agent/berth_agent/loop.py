"""The reconcile loop: desired state from the API, actual state from Docker, plan, execute.

One app at a time per app (a lock each), many apps at once. It runs on every command, on every
Docker event that matters (a container died), after every event-stream reconnect, at backoff
deadlines the planner asks for, and every ``resync_seconds`` for every app of this host.
Hard restarts run under the same per-app lock; image pruning runs every ``prune_seconds`` and
after every rollout that went live.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from typing import Any

import aiodocker
import asyncpg
import nats.errors
from berth_shared.contracts.containers import ImagePruned
from berth_shared.contracts.desired import DesiredApp
from berth_shared.contracts.releases import AgentCommand, ReconcileApp, RestartInPlace
from berth_shared.contracts.runs import RunCommand, StartRun, StopRun
from berth_shared.errors import BusUnavailable
from nats.aio.client import Client
from nats.js import JetStreamContext

from berth_agent.addresses.run import Addresses
from berth_agent.builds.run import Builder
from berth_agent.containers.run import Containers
from berth_agent.desired_client import DesiredClient
from berth_agent.docker_events import follow, to_container_event
from berth_agent.drain.run import Firewall
from berth_agent.engine import raise_if_engine_down
from berth_agent.executor import Executor
from berth_agent.images.decide import PrunePlan, unspoken_apps
from berth_agent.images.run import PRUNE_EVERY_SECONDS, ImagePruner
from berth_agent.images.run_resolve import ImageResolver
from berth_agent.images.store import ImageStore
from berth_agent.logs.run import LogCollectors
from berth_agent.logs.store import CursorStore
from berth_agent.memory import MemoryStore
from berth_agent.observe import observe
from berth_agent.planner import DEFAULT_POLICY, HardRestart, plan, plan_hard_restart
from berth_agent.proxy.run import ProxySwitch
from berth_agent.publisher import Publisher
from berth_agent.runs.run import Runs
from berth_agent.state import ActualState, CrashPolicy, DesiredState, live_release_id, unrecorded_deaths

log = logging.getLogger("berth.agent.loop")

RESYNC_SECONDS = 10.0
NOT_KEPT = "no app keeps it: not among the app's last 5 distinct live images, or the app was deleted"


class Agent:
    def __init__(
        self,
        docker: aiodocker.Docker,
        nc: Client,
        js: JetStreamContext,
        *,
        instance: str,
        host: str,
        policy: CrashPolicy = DEFAULT_POLICY,
        resync_seconds: float = RESYNC_SECONDS,
        pool: asyncpg.Pool | None = None,
        prune_seconds: float = PRUNE_EVERY_SECONDS,
        firewall: Firewall | None = None,
    ) -> None:
        self.docker = docker
        self.nc = nc
        self.desired = DesiredClient(nc, host)
        self.instance = instance
        self.host = host
        self.policy = policy
        self.resync_seconds = resync_seconds
        self.prune_seconds = prune_seconds
        self.memory = MemoryStore(policy.window_seconds)
        self.publisher = Publisher(js)
        self.firewall = firewall or Firewall(instance)
        self.images = ImagePruner(docker, ImageStore(pool, instance, host) if pool is not None else None)
        self.logs = LogCollectors(
            docker,
            js,
            instance=instance,
            store=CursorStore(pool, instance, host) if pool is not None else None,
            max_payload=getattr(nc, "max_payload", 0) or 1024 * 1024,
        )
        self.builder = Builder(docker, js, self.publisher, instance=instance)
        self.addresses = Addresses(docker, instance)  # one per agent: runs pick under the same lock
        self.executor = Executor(
            docker,
            host=host,
            publisher=self.publisher,
            memory=self.memory,
            images=ImageResolver(docker, publisher=self.publisher, pruner=self.images, builder=self.builder),
            containers=Containers(
                docker, instance=instance, publisher=self.publisher, memory=self.memory, last_lines=self.logs
            ),
            firewall=self.firewall,
            switch=ProxySwitch(nc, self.publisher, self.memory),
            loop=self,
            addresses=self.addresses,
            instance=instance,
        )
        self.runs = Runs(
            docker,
            nc,
            js,
            instance=instance,
            desired=self.desired,
            addresses=self.addresses,
            containers=Containers(docker, instance=instance, publisher=self.publisher, memory=self.memory),
        )
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._dirty: set[str] = set()
        self._runners: dict[str, asyncio.Task[None]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._resync: asyncio.Task[None] | None = None
        self._prune: asyncio.Task[None] | None = None
        self._prune_again = False

    # -- one app ---------------------------------------------------------------------------
    async def reconcile_app(self, app_id: str) -> None:
        """Converge one app now. Raises EngineUnavailable / BusUnavailable when it could not."""
        async with self._locks[app_id]:
            app = await self.fetch_desired(app_id)
            # No drain runs outside this lock, so any rule of this app now is a leftover.
            await self.firewall.sweep_app(app_id)
            try:
                actual = await observe(self.docker, self.instance, app_id)
                await self.converge(app_id, app, actual)
            except Exception as exc:
                raise_if_engine_down(exc)
                raise

    async def restart_in_place(self, command: RestartInPlace) -> None:
        """``restart?hard=true``: restart the live container of the release where it is."""
        app_id = command.app_id
        async with self._locks[app_id]:
            app = await self.fetch_desired(app_id)
            await self.firewall.sweep_app(app_id)
            try:
                actual = await observe(self.docker, self.instance, app_id)
                decided = plan_hard_restart(app, actual, self.memory.of(app_id), command.release_id)
                if not isinstance(decided, HardRestart):
                    log.warning("hard restart of %s ignored: %s", command.release_id, decided, extra={"app_id": app_id})
                    return
                await self.executor.hard_restart(decided)
            except Exception as exc:
                raise_if_engine_down(exc)
                raise

    async def dispatch(self, command: AgentCommand | RunCommand) -> None:
        """Carry out one command from the agent's consumer."""
        match command:
            case ReconcileApp():
                await self.reconcile_app(command.app_id)
            case RestartInPlace():
                await self.restart_in_place(command)
            case StartRun():
                await self.runs.start(command)
            case StopRun():
                await self.runs.stop(command)

    async def converge(self, app_id: str, app: DesiredApp | None, actual: ActualState) -> None:
        now = time.time()
        if app is not None:
            live = live_release_id(app, self.memory.of(app_id))
            self.memory.record_deaths(app_id, unrecorded_deaths(actual.containers, self.memory.of(app_id), live), now)
        desired = DesiredState(apps=(app,) if app else (), scope=frozenset({app_id}))
        for step in plan(desired, actual, now, self.memory.snapshot(), self.policy):
            log.info("step %s", type(step).__name__, extra={"app_id": app_id})
            await self.executor.run(step)

    async def fetch_desired(self, app_id: str) -> DesiredApp | None:
        return await self.desired.get(app_id)

    # -- triggers --------------------------------------------------------------------------
    def trigger(self, app_id: str) -> None:
        """Reconcile ``app_id`` in the background, soon; repeated triggers coalesce."""
        self._dirty.add(app_id)
        if app_id not in self._runners:
            self._runners[app_id] = asyncio.create_task(self._run_triggered(app_id))

    async def _run_triggered(self, app_id: str) -> None:
        try:
            while app_id in self._dirty:
                self._dirty.discard(app_id)
                await self._reconcile_logged(app_id)
        finally:
            self._runners.pop(app_id, None)

    async def _reconcile_logged(self, app_id: str) -> None:
        try:
            await self.reconcile_app(app_id)
        except Exception as exc:
            log.warning("reconcile failed: %s", exc, extra={"app_id": app_id})

    def schedule_recheck(self, app_id: str, at: float) -> None:
        if (previous := self._timers.pop(app_id, None)) is not None:
            previous.cancel()
        delay = max(0.0, at - time.time())
        self._timers[app_id] = asyncio.get_running_loop().call_later(delay, self.trigger, app_id)

    # -- every app -------------------------------------------------------------------------
    async def resync(self) -> None:
        """Reconcile every app the API lists for this host and every app found in Docker."""
        try:
            listed = await self.desired.list()
            actual = await observe(self.docker, self.instance)
            drained = await self.firewall.stale_apps()  # rules left by a crash, of apps maybe gone
        except Exception as exc:
            log.warning("resync skipped: %s", exc)
            return
        for app_id in sorted({app.app_id for app in listed} | actual.app_ids() | drained):
            self.trigger(app_id)

    def request_resync(self) -> None:
        if self._resync is None or self._resync.done():
            self._resync = asyncio.create_task(self.resync())

    async def resync_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.resync_seconds)
            self.request_resync()

    async def cleaned_up(self, app_id: str) -> None:
        """An app was deleted: its log cursors go, and the images Berth built or pulled for it
        are pruned now (no app keeps them any more)."""
        await self.logs.forget_app(app_id)
        self.request_prune()

    # -- images ----------------------------------------------------------------------------
    async def prune_images(self, reason: str = NOT_KEPT) -> PrunePlan:
        """Remove the images this agent built or pulled that no app keeps and nothing uses, and
        tell each app's history (``image.pruned``, with ``reason``). Skipped (empty plan) when
        the API cannot say what every app keeps."""
        try:
            listed = await self.desired.list()
        except (nats.errors.Error, TimeoutError, BusUnavailable) as exc:
            log.warning("image prune skipped: desired state unavailable (%s)", type(exc).__name__)
            return PrunePlan()
        apps = [app for app in listed if not app.deleted]
        keep = [image for app in apps for image in app.keep_images]
        unspoken = unspoken_apps((app.app_id, app.release is not None, len(app.keep_images)) for app in apps)
        removed = await self.images.prune(keep, unspoken)
        for target in removed.remove:
            for app_id in target.apps:
                pruned = ImagePruned(app_id=app_id, image_id=target.image_id, refs=list(target.refs), reason=reason)
                with contextlib.suppress(Exception):  # history is best effort; the prune is done
                    await self.publisher.container_event("image_pruned", app_id, pruned)
        return removed

    @property
    def pruning(self) -> bool:
        """A prune is running (or about to)."""
        return self._prune is not None and not self._prune.done()

    async def _prune_logged(self) -> None:
        try:
            await self.prune_images()
        except Exception as exc:
            log.warning("image prune failed: %s", exc)

    def request_prune(self) -> None:
        """Prune soon; a request during a prune runs one more after it (never dropped: a
        deleted app's images must not wait for the periodic prune)."""
        self._prune_again = True
        if self._prune is None or self._prune.done():
            self._prune = asyncio.create_task(self._prune_while_requested())

    async def _prune_while_requested(self) -> None:
        while self._prune_again:
            self._prune_again = False
            await self._prune_logged()

    async def prune_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.prune_seconds)
            self.request_prune()

    # -- docker events ---------------------------------------------------------------------
    async def on_docker_event(self, raw: dict[str, Any]) -> None:
        event = to_container_event(raw, self.memory.expected_stops)
        if event is None:
            return
        if event.event == "started":
            actor = raw.get("Actor") or {}
            self.logs.on_started(event.container_id, actor.get("Attributes") or {})
        await self.publisher.container_event(event.event, event.app_id, event.message)
        if event.died and not self.memory.died(event.container_id):  # a death it asked for is no crash
            self.trigger(event.app_id)

    async def follow_docker(self) -> None:
        await follow(self.docker, self.instance, self.on_docker_event, self.request_resync)

    # -- lifecycle -------------------------------------------------------------------------
    async def run(self) -> None:
        """Follow Docker, collect logs and resync periodically until cancelled (commands are
        consumed elsewhere)."""
        try:
            await asyncio.gather(
                self.follow_docker(),
                self.resync_periodically(),
                self.prune_periodically(),
                self.logs.run(),
                self.runs.adopt(),
            )
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        tasks = [*self._runners.values(), *(t for t in (self._resync, self._prune) if t is not None)]
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
        await self.runs.shutdown()  # runs go on; the next agent adopts them
        await self.logs.shutdown()  # a flush in flight is finished (bounded) before the bus closes
