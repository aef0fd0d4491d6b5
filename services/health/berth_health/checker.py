"""The check loop: every live app is checked on its own schedule (jitter on first schedule, no
drift), each check probing every web instance at once (the app is as healthy as its worst one:
berth_health.instances), under one global concurrency limit; each probe has its own timeout,
so a slow or hanging app only ever occupies its own slot. Results are buffered and written in
batches; state changes go to a single effects worker (persist, publish) off the probe path."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from berth_shared.contracts.health import HealthCheck

from berth_health import machine
from berth_health.instances import judge
from berth_health.machine import Action, HealthState, Transition
from berth_health.probe import ProbeResult, http_get_status
from berth_health.schedule import Schedule

log = logging.getLogger("berth.health.checker")

CheckRow = tuple[str, str, str, datetime, int | None, str | None, int, bool]

# An app without a configured check is still checked, by the deploy gate's rule: it answers
# ``GET /`` on its port with a status in [200, 400) (what the proxy's own check accepts), at the
# default interval and thresholds. It only reports healthy/unhealthy: no automatic restarts.
DEFAULT_CHECK = HealthCheck()


@dataclass
class Target:
    app_id: str
    release_id: str
    slot: str
    hosts: tuple[str, ...]  # every web instance of the live slot (berth_health.instances)
    port: int
    check: HealthCheck | None
    state: HealthState = field(default_factory=HealthState)

    @property
    def effective_check(self) -> HealthCheck:
        """The configured check, or :data:`DEFAULT_CHECK` for an app without one."""
        return self.check if self.check is not None else DEFAULT_CHECK


ResultsSink = Callable[[list[CheckRow]], Awaitable[None]]
ChangeSink = Callable[[Target, Transition | None, Action | None], Awaitable[None]]
ProbeFn = Callable[[str, int, str, float], Awaitable[ProbeResult]]


async def _ignore_results(rows: list[CheckRow]) -> None:
    return None


async def _ignore_changes(target: Target, transition: Transition | None, action: Action | None) -> None:
    return None


class Checker:
    def __init__(
        self,
        *,
        on_results: ResultsSink = _ignore_results,
        on_change: ChangeSink = _ignore_changes,
        concurrency: int = 256,
        probe: ProbeFn = http_get_status,
        flush_seconds: float = 0.25,
        flush_rows: int = 2000,
        record_lateness: bool = False,
    ) -> None:
        self.on_results = on_results
        self.on_change = on_change
        self.probe = probe
        self.targets: dict[str, Target] = {}
        self.schedule = Schedule()
        self.inflight: set[str] = set()
        self.sem = asyncio.Semaphore(concurrency)
        self.flush_seconds = flush_seconds
        self.flush_rows = flush_rows
        self.buffer: list[CheckRow] = []
        self.effects: asyncio.Queue[tuple[Target, Transition | None, Action | None]] = asyncio.Queue()
        self.lateness: list[float] | None = [] if record_lateness else None
        self.checks_run = 0
        self.skipped_inflight = 0
        self._wake = asyncio.Event()
        self._flush_now = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- targets --

    def upsert(self, target: Target) -> None:
        """Add or change an instance. A changed release keeps the caller's state (went_live)."""
        old = self.targets.get(target.app_id)
        self.targets[target.app_id] = target
        interval = target.effective_check.interval_seconds
        if old is None or target.app_id not in self.schedule:
            self.schedule.add(target.app_id, interval, time.monotonic() + random.random() * interval)
            self._wake.set()
        else:
            self.schedule.set_interval(target.app_id, interval)

    def remove(self, app_id: str) -> None:
        self.targets.pop(app_id, None)
        self.schedule.remove(app_id)

    def liveness(self, app_id: str, running: bool, reason: str) -> None:
        """Container events of an app without a check: a stopped container is unhealthy at
        once; whether a running one is healthy again is for its next HTTP check to say."""
        target = self.targets.get(app_id)
        if target is None or target.check is not None or running:
            return
        target.state, transition = machine.liveness(target.state, running, reason, time.time())
        if transition is not None:
            self.effects.put_nowait((replace(target), transition, None))

    # -- loops --

    async def run(self, stop: asyncio.Event, action_seconds: float = 0.5) -> None:
        loops = [
            asyncio.create_task(self._schedule_loop(stop), name="health-schedule"),
            asyncio.create_task(self._writer_loop(stop), name="health-writer"),
            asyncio.create_task(self._effects_loop(stop), name="health-effects"),
            asyncio.create_task(self._actions_loop(stop, action_seconds), name="health-actions"),
        ]
        try:
            await stop.wait()
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._flush()

    async def _schedule_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            nxt = self.schedule.next_due()
            delay = 1.0 if nxt is None else nxt - time.monotonic()
            if delay > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=min(delay, 1.0))
                continue
            for key, due in self.schedule.pop_due(time.monotonic()):
                target = self.targets.get(key)
                if target is None:
                    continue
                if key in self.inflight:
                    self.skipped_inflight += 1  # still waiting on the previous probe: no pile-up
                    continue
                self.inflight.add(key)
                task = asyncio.create_task(self._check(target, target.effective_check, due))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _check(self, target: Target, check: HealthCheck, due: float) -> None:
        try:
            async with self.sem:
                if self.lateness is not None:
                    self.lateness.append(time.monotonic() - due)
                results = await asyncio.gather(
                    *(self.probe(host, target.port, check.path, check.timeout_seconds) for host in target.hosts)
                )
        finally:
            self.inflight.discard(target.app_id)
        self.checks_run += 1
        outcome = judge(check, list(zip(target.hosts, results, strict=True)))
        result, ok, reason = outcome.result, outcome.ok, outcome.reason
        now = time.time()
        self.buffer.append(
            (
                target.app_id,
                target.release_id,
                target.slot,
                datetime.fromtimestamp(now, UTC),
                result.status_code,
                result.error,
                result.latency_ms,
                ok,
            )
        )
        if len(self.buffer) >= self.flush_rows:
            self._flush_now.set()
        if self.targets.get(target.app_id) is not target:
            return  # replaced (new release or config) while probing: its state starts over
        target.state, transition = machine.observe(target.state, check, ok, reason, now)
        if transition is not None:
            self.effects.put_nowait((replace(target), transition, None))

    async def _actions_loop(self, stop: asyncio.Event, every: float) -> None:
        while not stop.is_set():
            now = time.time()
            for target in list(self.targets.values()):
                if target.check is None:
                    continue
                action = machine.due_action(target.state, target.check, now)
                if action is not None:
                    target.state = machine.acted(target.state, action, now)
                    self.effects.put_nowait((replace(target), None, action))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)

    async def _effects_loop(self, stop: asyncio.Event) -> None:
        while True:
            target, transition, action = await self.effects.get()
            for attempt in range(1, 31):
                try:
                    await self.on_change(target, transition, action)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("could not record a health change of app %s (attempt %d)", target.app_id, attempt)
                    await asyncio.sleep(min(5.0, 0.2 * attempt))

    async def _writer_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._flush_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_now.wait(), timeout=self.flush_seconds)
            try:
                await self._flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not write %d check results; will retry", len(self.buffer))
                await asyncio.sleep(1.0)

    async def _flush(self) -> None:
        if not self.buffer:
            return
        rows, self.buffer = self.buffer, []
        try:
            await self.on_results(rows)
        except BaseException:
            self.buffer = (rows + self.buffer)[-100_000:]
            raise
