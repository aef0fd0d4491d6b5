"""Runs one-off containers of apps: ``berth run`` and cron runs (ADR 0026 §5).

``StartRun``: the agent asks the API what to run (image, argv, limits, the env sealed to its key),
creates the container at a picked address (labels ``berth.run``, ``berth.process=run|cron``),
attaches before starting it, publishes ``RunStarted`` and, in a task of its own, relays the
output as numbered ``RunOutput`` chunks on ``berth.run.<app>.<run>.out`` (attached runs) and the
terminal's ``RunInput`` from ``….in`` into its stdin, stops it at its timeout (SIGTERM, the stop
timeout, SIGKILL), publishes ``RunFinished`` and then removes the container.

A redelivered ``StartRun`` of a run held or finished here changes nothing; a container found by
its ``berth.run`` label (an agent restarted mid-run) is awaited, never started again
(:meth:`Runs.adopt`). When the agent stops, running runs go on; the next agent adopts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import aiodocker
from berth_shared import bus, labels
from berth_shared.contracts.base import decode, encode
from berth_shared.contracts.desired import DesiredApp
from berth_shared.contracts.runs import (
    ADOPTED_SEQ,
    DesiredRun,
    RunFinished,
    RunInput,
    RunStarted,
    StartRun,
    StopRun,
    run_event_subject,
    run_input_subject,
    run_output_subject,
)
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from berth_agent.addresses.run import Addresses
from berth_agent.containers.run import Containers
from berth_agent.desired_client import DesiredClient
from berth_agent.engine import raise_if_engine_down
from berth_agent.rollout import RolloutFailed
from berth_agent.runs import decide

log = logging.getLogger("berth.agent.runs")

PUBLISH_ATTEMPTS = 3
OUTPUT_END_SECONDS = 5.0
FINISHED_KEPT = 1000


def _since(timestamp: str) -> float:
    """Seconds since a Docker timestamp (nanoseconds cut to micro)."""
    try:
        text = timestamp.rstrip("Z")
        head, _, frac = text.partition(".")
        at = datetime.fromisoformat(f"{head}.{(frac or '0')[:6]}").replace(tzinfo=UTC)
    except ValueError:
        return 0.0
    return max(0.0, (datetime.now(UTC) - at).total_seconds())


class Runs:
    def __init__(
        self,
        docker: aiodocker.Docker,
        nc: Client,
        js: JetStreamContext,
        *,
        instance: str,
        desired: DesiredClient,
        addresses: Addresses,
        containers: Containers,
    ) -> None:
        self._docker = docker
        self._nc = nc
        self._js = js
        self._instance = instance
        self._desired = desired
        self._addresses = addresses
        self._containers = containers
        self._held: dict[str, asyncio.Task[None]] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._stops: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # -- commands --------------------------------------------------------------------------
    async def start(self, command: StartRun) -> None:
        """Start the run (or adopt its container); returns once it runs, not when it ends."""
        run_id = command.run_id
        lock = self._locks.setdefault(run_id, asyncio.Lock())
        async with lock:
            if run_id in self._held or run_id in self._finished:
                return  # a redelivered command changes nothing
            found = await self._find(run_id)
            wanted = await self._desired.get_run(command.app_id, run_id)
            if found is not None:
                await self._resume(command.app_id, run_id, found, wanted[0] if wanted else None)
                return
            if wanted is None:
                return  # ended, stopped or its app deleted before it started
            if (reason := self._stops.pop(run_id, None)) is not None:  # stopped before it started
                ended = RunFinished(app_id=command.app_id, run_id=run_id, outcome="stopped", reason=reason)
                await self._event("finished", ended)
                self._remember(run_id)
                return
            run, env = wanted
            app = await self._desired.get(command.app_id)
            if app is None:
                return
            try:
                container_id = await self._create(app, run, env)
            except RolloutFailed as exc:
                await self._event("finished", decide.failed_to_start(app.app_id, run_id, str(exc)))
                self._remember(run_id)
                return
            await self._resume(app.app_id, run_id, container_id, run)

    async def stop(self, command: StopRun) -> None:
        """Stop the run (SIGTERM, its stop timeout, SIGKILL); it ends as ``stopped``."""
        self._stops[command.run_id] = command.reason or "stopped"
        async with self._locks.setdefault(command.run_id, asyncio.Lock()):  # a start in progress ends first
            container_id = await self._find(command.run_id)
        if container_id is None:
            return
        timeout = 10
        wanted = await self._safe_run(command.app_id, command.run_id)
        if wanted is not None:
            timeout = wanted.stop_timeout_seconds
        await self._containers.stop(container_id, timeout)

    async def adopt(self) -> None:
        """Await every run container of this instance left by an earlier agent (a failure is
        logged: the next ``StartRun`` redelivery or the API's resync deals with the run)."""
        wanted = [*labels.instance_filter(self._instance), labels.RUN]
        try:
            listed = await self._docker.containers.list(all=True, filters=json.dumps({"label": wanted}))
        except Exception as exc:
            log.warning("adopting runs skipped: %s", exc)
            return
        for found in listed:
            found_labels: dict[str, str] = dict(found["Labels"] or {})
            app_id, run_id = found_labels.get(labels.APP, ""), found_labels.get(labels.RUN, "")
            if not app_id or not run_id:
                continue
            try:
                await self.start(StartRun(app_id=app_id, run_id=run_id))
            except Exception as exc:
                log.warning("adopting run %s failed: %s", run_id, exc, extra={"app_id": app_id})

    async def shutdown(self) -> None:
        """Stop watching (the containers run on: the next agent adopts them)."""
        tasks = list(self._held.values())
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_all(self) -> None:
        """Every run watched here ended (for tests)."""
        while self._held:
            await asyncio.gather(*self._held.values(), return_exceptions=True)

    # -- one run ---------------------------------------------------------------------------
    async def _resume(self, app_id: str, run_id: str, container_id: str, run: DesiredRun | None) -> None:
        container = self._docker.containers.container(container_id)
        stream: Any = None
        try:
            shown = await container.show()
            state = shown["State"]
            fresh = not decide.was_started(state)
            stdin = bool(run and run.stdin and fresh)
            stream = container.attach(stdout=True, stderr=True, stdin=stdin)
            await stream._init()  # attached before the start: no line is missed
            if fresh:
                await container.start()
        except aiodocker.DockerError as exc:
            if stream is not None:
                with contextlib.suppress(Exception):
                    await stream.close()
            raise_if_engine_down(exc)
            await self._event("finished", decide.failed_to_start(app_id, run_id, f"the engine refused: {exc.message}"))
            await self._containers.remove(container_id)
            self._remember(run_id)
            return
        subscription = None
        if stdin:  # listening before RunStarted: the API forwards stdin once the run is running

            async def on_input(msg: Msg) -> None:
                await self._input(msg, stream)

            subscription = await self._nc.subscribe(run_input_subject(app_id, run_id), cb=on_input)
        address = str(((shown.get("Config") or {}).get("Labels") or {}).get(labels.ADDRESS, ""))
        if fresh:
            started = RunStarted(app_id=app_id, run_id=run_id, container_id=container_id, address=address)
            await self._event("started", started)
        ran = 0.0 if fresh else _since(str(state.get("StartedAt") or ""))
        task = asyncio.create_task(
            self._watch(
                app_id,
                run_id,
                container_id=container_id,
                run=run,
                stream=stream,
                subscription=subscription,
                ran=ran,
                adopted=not fresh,
            )
        )
        self._held[run_id] = task
        task.add_done_callback(lambda done: self._watched(app_id, run_id, done))

    def _watched(self, app_id: str, run_id: str, task: asyncio.Task[None]) -> None:
        """A run's watcher ended: a failure is logged (the next StartRun or agent adopts the run)."""
        self._held.pop(run_id, None)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning("watching run %s failed: %r", run_id, exc, extra={"app_id": app_id})

    async def _watch(
        self,
        app_id: str,
        run_id: str,
        *,
        container_id: str,
        run: DesiredRun | None,
        stream: Any,
        subscription: Any,
        ran: float,
        adopted: bool,
    ) -> None:
        began = time.monotonic() - ran
        attach = bool(run and run.attach)
        output = decide.Output(run_id, ADOPTED_SEQ if adopted else 0)
        pump = asyncio.create_task(self._pump(app_id, output, stream, attach))
        container = self._docker.containers.container(container_id)
        timed_out = False
        try:
            timeout = decide.remaining_seconds(run.timeout_seconds if run else 86_400, ran)
            try:
                exit_code, gone = await asyncio.wait_for(self._exit_code(container_id), timeout)
            except TimeoutError:
                timed_out = True
                await self._containers.stop(container_id, run.stop_timeout_seconds if run else 10)
                exit_code, gone = await self._exit_code(container_id)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(pump), OUTPUT_END_SECONDS)
        except BaseException:
            pump.cancel()
            if subscription is not None:
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()
            with contextlib.suppress(Exception):
                await stream.close()
            raise  # the agent stops: the container runs on, the next agent adopts it
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await pump
        if subscription is not None:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        with contextlib.suppress(Exception):
            await stream.close()
        if attach:
            await self._relay(app_id, output.end(exit_code))
        last = list(output.last)
        if adopted:  # the lines before the adoption are only in the engine's log
            with contextlib.suppress(Exception):
                last = decide.last_lines_of(await container.log(stdout=True, stderr=True, tail=decide.LAST_LINES))
        stop_reason = self._stops.pop(run_id, None)
        ended = decide.finished(
            run,
            app_id,
            run_id,
            exit_code=exit_code,
            stopped=stop_reason is not None and not timed_out,
            timed_out=timed_out,
            gone=gone,
            duration_ms=round((time.monotonic() - began) * 1000),
            last=last,
            stop_reason=stop_reason or "",
        )
        await self._event("finished", ended)
        self._remember(run_id)
        try:
            await self._containers.remove(container_id)
        except Exception as exc:
            log.warning("removing run %s's container failed: %s", run_id, exc, extra={"app_id": app_id})

    async def _exit_code(self, container_id: str) -> tuple[int | None, bool]:
        """The run's exit code once it exits, and whether its container was gone before: removed
        by someone else (its app deleted). A removal the wait sees end the container is an exit."""
        container = self._docker.containers.container(container_id)
        try:
            result = await container.wait()
        except aiodocker.DockerError as exc:
            raise_if_engine_down(exc)
            if exc.status == 404:
                return None, True
            raise
        return int(result.get("StatusCode", 0)), False

    async def _pump(self, app_id: str, output: decide.Output, stream: Any, attach: bool) -> None:
        while (message := await stream.read_out()) is not None:
            kind: decide.Stream = "stderr" if message.stream == 2 else "stdout"
            for chunk in output.chunks(kind, bytes(message.data)):
                if attach:
                    await self._relay(app_id, chunk)

    async def _input(self, msg: Msg, stream: Any) -> None:
        try:
            chunk = decode(msg.data, RunInput)
            if chunk.data:
                await stream.write_in(chunk.data)
            if chunk.eof:
                transport = stream._resp.connection.transport if stream._resp and stream._resp.connection else None
                if transport is not None and transport.can_write_eof():
                    transport.write_eof()  # closes the container's stdin (StdinOnce)
        except Exception as exc:
            log.warning("stdin of run %s dropped: %s", msg.subject, exc)

    async def _relay(self, app_id: str, chunk: Any) -> None:
        with contextlib.suppress(Exception):  # the relay is for the terminal; the logs are the record
            await self._nc.publish(run_output_subject(app_id, chunk.run_id), encode(chunk))

    async def _create(self, app: DesiredApp, run: DesiredRun, env: dict[str, str]) -> str:
        name = decide.container_name(self._instance, app.name, run.run_id)
        async with self._addresses.reserve(app.app_id, app.subnet) as address:
            body = decide.run_config(app, run, env, self._instance, address=address)
            try:
                return str((await self._docker.containers.create(body, name=name)).id)
            except aiodocker.DockerError as exc:
                raise_if_engine_down(exc)
                if exc.status == 409:
                    return str((await self._docker.containers.get(name)).id)
                raise RolloutFailed(f"Docker refused to create the run's container: {exc.message}") from None

    async def _find(self, run_id: str) -> str | None:
        wanted = [*labels.instance_filter(self._instance), f"{labels.RUN}={run_id}"]
        listed = await self._docker.containers.list(all=True, filters=json.dumps({"label": wanted}))
        return str(listed[0].id) if listed else None

    async def _safe_run(self, app_id: str, run_id: str) -> DesiredRun | None:
        with contextlib.suppress(Exception):
            wanted = await self._desired.get_run(app_id, run_id)
            return wanted[0] if wanted else None
        return None

    def _remember(self, run_id: str) -> None:
        self._finished[run_id] = None
        while len(self._finished) > FINISHED_KEPT:
            self._finished.popitem(last=False)
        self._locks.pop(run_id, None)

    async def _event(self, event: str, message: RunStarted | RunFinished) -> None:
        subject = run_event_subject(event, message.app_id)
        for attempt in range(1, PUBLISH_ATTEMPTS + 1):
            try:
                await bus.publish(self._js, subject, message, msg_id=message.id)
                return
            except Exception as exc:
                if attempt == PUBLISH_ATTEMPTS:
                    log.error("could not publish %s: %s", type(message).__name__, exc)
                    return
                await asyncio.sleep(0.2 * attempt)
