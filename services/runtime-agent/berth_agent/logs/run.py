"""Log collection: one collector per app container of this instance, following its stdout and
stderr with Docker's timestamps and publishing LogBatches on ``berth.logs.<app_id>.<stream>``.

A collector reads the container's json-file log from disk (``LogPath``, across the engine's
rotations: :mod:`berth_agent.logs.json_file`, entries to lines in
:mod:`berth_agent.logs.decide_json_file`; ADR 0027), or, for another log driver, a path it cannot
open, or ``BERTH_AGENT_LOGS_FROM=engine``, the engine's raw log stream
(``follow=1&timestamps=1&since=<cursor second>``, lines by :mod:`berth_agent.logs.decide_frames`).
Either way it buffers the lines (:mod:`berth_agent.logs.decide_batch`), publishes
each flush and waits for JetStream's acks, then saves the cursor (``agent.log_cursors``). While a
publish is not acked it does not read: Docker keeps the (bounded) json-file log meanwhile. After a
restart it re-reads from the oldest file there (over the API: from the cursor's second) and drops
what it had published: no gap, no duplicate. A file the engine rotated away and deleted before it
was read is told as lost.
A container that stops is read to the end of its log; a container about to be removed by the
agent is read to the end first (:meth:`LogCollectors.before_remove`). A collector that fails is
restarted with backoff; it never takes the agent down.

Nothing is lost silently (ADR 0006): lines over the app's budget are dropped before they are
encoded and counted in ``berth: dropped N lines`` notices (:mod:`berth_agent.logs.decide_budget`); a
cursor's line gone from the engine's ring on a re-read, or a flood's timestamps jumping while
the collector reads behind — a new container's first line read included, when it was written
well after the container started (:mod:`berth_agent.logs.decide_skips`) — becomes a ``berth: lines
... lost`` notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import aiodocker
import aiohttp
from berth_shared import labels
from berth_shared.contracts.base import encode
from berth_shared.contracts.logs import LogBatch, log_subject
from berth_shared.contracts.processes import WEB
from berth_shared.log_budget import LogBudget, log_budget
from nats.js import JetStreamContext

from berth_agent.logs.decide_batch import Batcher, Progress, ReadyBatch, batch_limit, format_nanos, message_id
from berth_agent.logs.decide_budget import NOTICE_EVERY_SECONDS, SKIPPED, Gate, TokenBucket, lost_notice
from berth_agent.logs.decide_frames import CollectedLine, FrameDecoder, LineAssembler, RawDecoder, Resume, ts_nanos
from berth_agent.logs.decide_json_file import EntryAssembler, Loss, Spot, log_file_of, parse_entries
from berth_agent.logs.decide_lane import Lane
from berth_agent.logs.decide_skips import NoSkips, SkipDetector
from berth_agent.logs.json_file import JsonFileLog
from berth_agent.logs.store import CursorStore

log = logging.getLogger("berth.agent.logs")

SYNC_SECONDS = 5.0  # re-list the instance's containers (start events make it faster)
IDLE_RECHECK_SECONDS = 5.0  # a stopped container is re-inspected this often (started again?)
PUBLISH_TIMEOUT_SECONDS = 5.0
PUBLISH_BACKOFF_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)
RESTART_BACKOFF_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0)
FINISH_ON_STOP_SECONDS = 5.0  # a flush in flight when the agent stops gets this long to be acked
SETTLE_SECONDS = 5.0  # before a removal, how long to wait for the container's last lines
READ_CHUNK = 64 * 1024
# Where logs are read: ``disk`` (the json-file log, ADR 0027; the engine's API when the container
# has no readable json-file log) or ``engine`` (always the engine's API).
READ_FROM_ENV = "BERTH_AGENT_LOGS_FROM"
POLL_SECONDS = 0.05  # at the end of a log file, look again this soon while lines keep coming ...
IDLE_POLL_SECONDS = 0.1  # ... and this soon once it has been quiet for IDLE_AFTER_SECONDS
IDLE_AFTER_SECONDS = 1.0
MAX_PENDING_BYTES = 1024 * 1024  # an entry is at most 16 KiB of text, escaped up to 6 times
FLUSH_LINES = 2000  # lines per flush (and per batch at most): fewer acks to wait for


@dataclass(frozen=True)
class ContainerRef:
    container_id: str
    app_id: str
    release_id: str
    slot: str
    process: str = WEB  # ``berth.process``: web, a worker's name, or run/cron/release (one-off)
    run_id: str = ""  # ``berth.run``: the one-off run the container belongs to


def container_ref(container_id: str, found: dict[str, str]) -> ContainerRef | None:
    """The identity a container's labels give its lines; None for containers that are not an app's.
    A web instance names its release and slot; other processes may have no slot (one-off
    containers: ``run``/``cron``/``release``), and a run may belong to no release (ADR 0026)."""
    app_id, release_id, slot = found.get(labels.APP), found.get(labels.RELEASE) or "", found.get(labels.SLOT) or ""
    process = found.get(labels.PROCESS) or WEB  # absent: a container from before process types
    run_id = found.get(labels.RUN) or ""
    if not container_id or not app_id:
        return None
    if process == WEB and (not release_id or not slot):
        return None
    if not release_id and not run_id:
        return None
    return ContainerRef(container_id, app_id, release_id, slot, process, run_id)


def started_at(started: str) -> int | None:
    """``State.StartedAt`` in nanoseconds since the epoch; None for a container never started."""
    try:
        nanos = ts_nanos(started)
    except (ValueError, OverflowError):
        return None
    return nanos if nanos > 0 else None  # "0001-01-01T00:00:00Z": never started


@dataclass
class ReadState:
    """What one read of a container's log carries from line to line."""

    decoder: FrameDecoder | RawDecoder | None
    assembler: LineAssembler | EntryAssembler
    resume: Resume
    gate: Gate
    batcher: Batcher
    skips: SkipDetector[CollectedLine] | NoSkips[CollectedLine] = field(default_factory=SkipDetector)
    read_at: int = 0  # wall clock (ns) of the chunk being read


class Collector:
    """Follows one container's log for as long as the container exists."""

    def __init__(
        self,
        docker: aiodocker.Docker,
        js: JetStreamContext,
        ref: ContainerRef,
        store: CursorStore | None,
        max_bytes: int,
        *,
        bucket: TokenBucket | None = None,
        from_disk: bool = True,
    ) -> None:
        self._docker = docker
        self._from_disk = from_disk
        self._spot: Spot | None = None  # where the last read of the json-file log ended, all published
        self._js = js
        self.ref = ref
        self._store = store
        self._max_bytes = max_bytes
        self._bucket = bucket or TokenBucket(LogBudget().lines_per_second, LogBudget().burst)
        self._progress: Progress | None = None
        self._lane = Lane()
        self._kick = asyncio.Event()
        self._drain_requested = 0.0  # monotonic time of the latest before_remove
        self._drained_from = 0.0  # monotonic time of the inspect that began the latest final read
        self._drained = asyncio.Condition()
        self.published_lines = 0
        self.dropped_lines = 0  # over the app's budget (each told by a notice line)
        self.lost_gaps = 0  # rotations past the cursor (each told by a notice line)
        self.reading = ""  # how the latest read reads the log: "disk" (its json-file) or "engine" (its API)

    def kick(self) -> None:
        self._kick.set()

    async def settle(self, requested: float, timeout: float) -> bool:
        """Wait until a read to the end of the log, begun at or after ``requested``, is published."""
        self._drain_requested = max(self._drain_requested, requested)
        self.kick()
        try:
            async with asyncio.timeout(timeout), self._drained:
                await self._drained.wait_for(lambda: self._drained_from >= requested)
        except TimeoutError:
            return False
        return True

    async def run(self) -> None:
        """Follow the container until it is removed (returns) or something fails (raises)."""
        if self._progress is None:
            cursors = await self._store.load(self.ref.container_id) if self._store else {}
            self._progress = Progress(cursors)
        drained_for: str | None = None  # StartedAt of the run whose log was read to the end
        quick_ends = 0
        while True:
            inspected_at = time.monotonic()
            try:
                info = await self._docker.containers.container(self.ref.container_id).show()
            except aiodocker.DockerError as exc:
                if exc.status == 404:
                    await self._gone()
                    return
                raise
            state = info.get("State") or {}
            running = bool(state.get("Running"))
            started = str(state.get("StartedAt") or "")
            tty = bool((info.get("Config") or {}).get("Tty"))
            started_nanos = started_at(started)
            log_path = log_file_of(info, from_disk=self._from_disk)
            self._kick.clear()
            if running:
                began = time.monotonic()
                await self._follow(tty, final=False, started=started_nanos, log_path=log_path)
                quick_ends = quick_ends + 1 if time.monotonic() - began < 1.0 else 0
                if quick_ends > 1:  # the engine keeps ending the stream of a running container
                    await asyncio.sleep(RESTART_BACKOFF_SECONDS[min(quick_ends, len(RESTART_BACKOFF_SECONDS)) - 1])
                continue
            if started != drained_for or self._drain_requested >= self._drained_from:
                await self._follow(tty, final=True, started=started_nanos, log_path=log_path)
                drained_for = started
                async with self._drained:
                    self._drained_from = inspected_at
                    self._drained.notify_all()
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IDLE_RECHECK_SECONDS):
                    await self._kick.wait()

    async def _gone(self) -> None:
        async with self._drained:
            self._drained_from = time.monotonic()
            self._drained.notify_all()
        if self._store is not None:
            await self._store.forget([self.ref.container_id])

    async def _follow(self, tty: bool, *, final: bool, started: int | None = None, log_path: str = "") -> None:
        """One read of the log from the cursor: to its end for a stopped container (``final``:
        a last line without newline is a line), until the container stops for a running one.
        ``started``: when the container's run started (ns), to see a skip before its first line.
        ``log_path``: its json-file log, read from disk when it can be opened."""
        assert self._progress is not None
        if log_path:
            files = JsonFileLog(log_path)
            spot, self._spot = self._spot, None  # a read that fails leaves no spot: the cursor decides
            try:
                opened = files.open_at(spot)
            except OSError as exc:
                log.warning("cannot read the log file %s (%s); following the engine's API", log_path, exc)
                opened = None
            if opened is not None:
                self.reading = "disk"
                try:
                    await self._follow_files(files, final=final, started=started, at_spot=opened.at_spot)
                finally:
                    files.close()
                return
        self.reading = "engine"
        progress = self._progress
        fresh = not progress.cursors  # nothing read before: the read begins at the log's start
        state = ReadState(
            decoder=RawDecoder() if tty else FrameDecoder(),
            assembler=LineAssembler(),
            resume=Resume(progress.cursors),
            gate=Gate(self._bucket),
            batcher=Batcher(max_lines=FLUSH_LINES, max_bytes=self._max_bytes),
            skips=SkipDetector(started if fresh else None),
        )
        gate, batcher, assembler = state.gate, state.batcher, state.assembler
        loop = asyncio.get_running_loop()
        params = {"follow": "1", "stdout": "1", "stderr": "1", "timestamps": "1", "since": str(progress.since())}
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None, sock_connect=10)
        path = f"containers/{self.ref.container_id}/logs"
        async with self._docker._query(path, params=params, timeout=timeout) as response:
            try:
                await self._read(response, state)
            finally:
                response.close()  # aiodocker's _query leaves the response to its caller
                self.dropped_lines += gate.dropped
                gate.dropped = 0
        if final:
            self._take_all(list(assembler.finish()), state, loop.time())
        for notice in gate.finish():
            batcher.add(notice, loop.time())
        if len(batcher):
            await self._flush(batcher, assembler)

    async def _read(
        self,
        response: aiohttp.ClientResponse,
        state: ReadState,
    ) -> None:
        """Lines from the response into the buffer, flushing it when due, until the stream ends.
        Drops not yet told are told once the app has been quiet for a while."""
        loop = asyncio.get_running_loop()
        content = response.content
        decoder, assembler, gate, batcher = state.decoder, state.assembler, state.gate, state.batcher
        assert decoder is not None and isinstance(assembler, LineAssembler)
        while True:
            deadline = batcher.deadline
            if gate.pending():
                quiet = loop.time() + NOTICE_EVERY_SECONDS
                deadline = quiet if deadline is None else min(deadline, quiet)
            try:
                async with asyncio.timeout_at(deadline):
                    chunk = await content.readany()
            except TimeoutError:
                chunk = None
            if chunk == b"":
                break
            now = loop.time()
            if chunk:
                state.read_at = time.time_ns()
                self._take_all(assembler.feed_all(decoder.feed(chunk)), state, now)
                for error in assembler.engine_errors:
                    log.warning("docker log stream error: %s", error, extra={"app_id": self.ref.app_id})
                assembler.engine_errors.clear()
            elif gate.pending():
                for notice in gate.finish():
                    batcher.add(notice, now)
            if len(batcher) and batcher.due(loop.time()):
                await self._flush(batcher, assembler)
            # readany() returns at once while the engine has more: give the other containers'
            # collectors (and the publishing) their turn between chunks of a flood.
            await asyncio.sleep(0)

    async def _follow_files(self, files: JsonFileLog, *, final: bool, started: int | None, at_spot: bool) -> None:
        """One read of the json-file log from disk: from where the last read ended (``at_spot``)
        or from the oldest file there (the cursor skips what was published), across rotations,
        until the container has stopped and its log is read to the end (then a last line
        without newline is a line). Files deleted before they were read are told as lost."""
        assert self._progress is not None
        progress = self._progress
        fresh = not progress.cursors
        assembler = EntryAssembler()
        state = ReadState(
            decoder=None,
            assembler=assembler,
            resume=Resume({} if at_spot else progress.cursors),
            gate=Gate(self._bucket),
            batcher=Batcher(max_lines=FLUSH_LINES, max_bytes=self._max_bytes),
            skips=SkipDetector(started) if fresh and not at_spot else NoSkips(),
        )
        gate, batcher = state.gate, state.batcher
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Any] | None = None
        if not final:
            container = self._docker.containers.container(self.ref.container_id)
            waiter = asyncio.ensure_future(container.wait(condition="not-running"))
        stopping = final  # the container has stopped: what is in the files now is all there is
        pending = b""  # bytes read of a line not yet whole
        gap: str | None = None  # after this time files may have been deleted unread: told before the next line
        last_data = loop.time()
        try:
            while True:
                data = files.read()
                now = loop.time()
                if data:
                    last_data = now
                    if pending:
                        data, pending = pending + data, b""
                    parsed = parse_entries(data)
                    pending = data[parsed.used :]
                    if len(pending) > MAX_PENDING_BYTES:  # no newline in a megabyte: not the engine's entries
                        log.warning("%d bytes without a newline in %s skipped", len(pending), files.path)
                        pending = b""
                    if parsed.bad:
                        log.warning("%d lines of %s are not log entries; skipped", parsed.bad, files.path)
                    state.read_at = time.time_ns()
                    lines = assembler.feed_all(parsed.entries)
                    if gap is not None and lines:
                        self._tell_file_gap(gap, lines[0], batcher, now)
                        gap = None
                    self._take_all(lines, state, now)
                    if isinstance(state.skips, SkipDetector) and state.skips.past_start:
                        state.skips = NoSkips()  # only a fresh log's start can have been skipped
                    if len(batcher) and batcher.due(loop.time()):
                        await self._flush_looking(files, batcher, assembler)
                    files.look()  # cheap (one stat): notes the next file while it can be seen
                    await asyncio.sleep(0)
                    continue
                # The end of the current file, for now.
                if files.rotated:
                    if pending:  # the engine writes whole entries: a rest is not one
                        log.warning("%d bytes at the end of a rotated log file are not an entry", len(pending))
                        pending = b""
                    switched = files.switch()
                    if switched is not None:
                        if switched.loss is not Loss.NONE:
                            gap = assembler.last_ts or format_nanos(started or 0)
                        continue
                elif files.look():
                    continue  # read on to the end of the rotated file before switching
                elif files.truncated():
                    files.rewind()
                    pending = b""
                    continue
                if stopping:
                    break
                if waiter is not None and waiter.done():
                    stopping = True  # read once more: lines written before it stopped
                    continue
                if len(batcher) and batcher.due(now):
                    await self._flush_looking(files, batcher, assembler)
                elif gate.pending() and now - last_data >= batcher.max_age:
                    for notice in gate.finish():
                        batcher.add(notice, now)
                    continue
                delay = POLL_SECONDS if now - last_data < IDLE_AFTER_SECONDS else IDLE_POLL_SECONDS
                deadline = batcher.deadline
                if deadline is not None:
                    delay = max(0.0, min(delay, deadline - now))
                await asyncio.sleep(delay)
        finally:
            if waiter is not None:
                waiter.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await waiter  # its outcome (or error) is taken, never left unretrieved
            self.dropped_lines += gate.dropped
            gate.dropped = 0
        now = loop.time()
        if pending:
            parsed = parse_entries(pending, final=True)
            self._take_all(assembler.feed_all(parsed.entries), state, now)
            pending = b""
        self._take_all(assembler.finish(), state, now)
        for notice in gate.finish():
            batcher.add(notice, now)
        if len(batcher):
            await self._flush(batcher, assembler)
        self._spot = files.spot(0)

    async def _flush_looking(self, files: JsonFileLog, batcher: Batcher, assembler: EntryAssembler) -> None:
        """A flush while the log's names are looked at (every :data:`POLL_SECONDS`): files the
        engine rotates in while the acks are awaited are held open before it can delete them."""
        watch = asyncio.ensure_future(_keep_looking(files))
        try:
            await self._flush(batcher, assembler)
        finally:
            watch.cancel()

    def _tell_file_gap(self, after_ts: str, first: CollectedLine, batcher: Batcher, now: float) -> None:
        self.lost_gaps += 1
        log.warning(
            "log lines of %s may have been lost between %s and %s: log files rotated away before they were read",
            self.ref.container_id[:12],
            after_ts,
            first.ts,
            extra={"app_id": self.ref.app_id},
        )
        batcher.add(lost_notice(first.stream, after_ts, first, SKIPPED), now)

    def _take_all(self, lines: list[CollectedLine], state: ReadState, now: float) -> None:
        """The lines of one read: skipped when already published, else through the app's budget;
        a gap found on resuming is told first, a skip seen while reading behind once the flood
        around it shows (by a notice positioned before the line after the skip)."""
        resume, check_skip, offer, add = state.resume, state.skips.check, state.gate.offer, state.batcher.add
        read_at = state.read_at
        for line in lines:
            if not resume.keep(line):
                continue
            if resume.gaps:
                self._tell_gaps(resume, state.batcher, now)
            try:
                nanos: int | None = ts_nanos(line.ts)
            except ValueError:
                nanos = None
            if nanos is not None:
                for skip in check_skip(nanos, read_at, line):
                    self._tell_skip(skip.after, skip.line, state.batcher, now)
            for kept in offer(line, nanos):
                add(kept, now)

    def _tell_gaps(self, resume: Resume, batcher: Batcher, now: float) -> None:
        for stream, after_ts, first in resume.gaps:
            self.lost_gaps += 1
            log.warning(
                "log lines of %s (%s) lost between %s and %s: the engine rotated its log first",
                self.ref.container_id[:12],
                stream,
                after_ts,
                first.ts,
                extra={"app_id": self.ref.app_id},
            )
            batcher.add(lost_notice(stream, after_ts, first), now)
        resume.gaps.clear()

    def _tell_skip(self, before: int, line: CollectedLine, batcher: Batcher, now: float) -> None:
        self.lost_gaps += 1
        after_ts = format_nanos(before)
        log.warning(
            "log lines of %s may have been skipped by the engine between %s and %s (read behind a flood)",
            self.ref.container_id[:12],
            after_ts,
            line.ts,
            extra={"app_id": self.ref.app_id},
        )
        batcher.add(lost_notice(line.stream, after_ts, line, SKIPPED), now)

    async def _flush(self, batcher: Batcher, assembler: LineAssembler | EntryAssembler) -> None:
        """Publish everything buffered and save the cursor. A stop (cancellation) arriving
        meanwhile waits for this flush (bounded), so a stopped agent leaves no duplicate behind."""
        assert self._progress is not None
        batches = batcher.take()
        work = asyncio.ensure_future(self._publish_and_save(batches, assembler))
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(work, FINISH_ON_STOP_SECONDS)
            raise

    async def _publish_and_save(self, batches: list[ReadyBatch], assembler: LineAssembler | EntryAssembler) -> None:
        assert self._progress is not None
        # Every batch of the flush is in flight at once: one round trip of acks, not one per batch.
        bulk = self._lane.bulk(sum(len(batch.lines) for batch in batches), asyncio.get_running_loop().time())
        await asyncio.gather(*(self._publish(batch, bulk) for batch in batches))
        for batch in batches:
            self._progress.published(batch.collected)
            self.published_lines += len(batch.lines)
        self._progress.read_up_to(assembler.last_ts, assembler.pending)
        if self._store is not None:
            try:
                await self._store.save(self.ref.container_id, self.ref.app_id, self._progress.cursors)
            except Exception as exc:  # the lines are out; a restart may re-send some (deduplicated)
                log.warning("could not save the log cursor: %s", exc, extra={"app_id": self.ref.app_id})

    async def _publish(self, batch: ReadyBatch, bulk: bool) -> None:
        """Publish one batch (on the bulk lane or the prompt one) and wait for the ack, retrying
        (same Nats-Msg-Id) until it is acked."""
        ref = self.ref
        message = LogBatch(
            app_id=ref.app_id,
            release_id=ref.release_id,
            slot=ref.slot,
            container_id=ref.container_id,
            stream=batch.stream,
            lines=batch.lines,
            process=ref.process,
            run_id=ref.run_id,
        )
        payload = encode(message)
        headers = {"Nats-Msg-Id": message_id(ref.container_id, batch.stream, batch.lines[0])}
        subject = log_subject(ref.app_id, batch.stream, bulk=bulk)
        failures = 0
        while True:
            try:
                await self._js.publish(subject, payload, timeout=PUBLISH_TIMEOUT_SECONDS, headers=headers)
                if failures:
                    log.info("log publishing resumed after %d failures", failures, extra={"app_id": ref.app_id})
                return
            except Exception as exc:
                delay = PUBLISH_BACKOFF_SECONDS[min(failures, len(PUBLISH_BACKOFF_SECONDS) - 1)]
                if failures == 0 or failures % 20 == 0:
                    log.warning(
                        "could not publish logs (%s: %s); not reading until it works",
                        type(exc).__name__,
                        exc,
                        extra={"app_id": ref.app_id},
                    )
                failures += 1
                await asyncio.sleep(delay)


async def _keep_looking(files: JsonFileLog) -> None:
    while True:
        await asyncio.sleep(POLL_SECONDS)
        with contextlib.suppress(OSError):
            files.look()


class LogCollectors:
    """Keeps one collector per app container of this instance and host."""

    def __init__(
        self,
        docker: aiodocker.Docker,
        js: JetStreamContext,
        *,
        instance: str,
        store: CursorStore | None = None,
        max_payload: int = 1024 * 1024,
        budget: LogBudget | None = None,
        from_disk: bool | None = None,
    ) -> None:
        self._docker = docker
        self._js = js
        self._instance = instance
        self._from_disk = os.environ.get(READ_FROM_ENV, "disk") != "engine" if from_disk is None else from_disk
        self._store = store
        self._max_bytes = batch_limit(max_payload)
        self.budget = budget or log_budget()
        self._buckets: dict[str, TokenBucket] = {}  # per app: its containers share the budget
        self._collectors: dict[str, Collector] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def collectors(self) -> dict[str, Collector]:
        return dict(self._collectors)

    async def run(self) -> None:
        while True:
            try:
                await self.sync()
            except Exception as exc:
                log.warning("log collectors not synced: %s", exc)
            await asyncio.sleep(SYNC_SECONDS)

    async def sync(self) -> None:
        """A collector for every app container there is; forget cursors of containers gone."""
        filters = json.dumps({"label": labels.instance_filter(self._instance)})
        listed = await self._docker.containers.list(all=True, filters=filters)
        present: set[str] = set()
        for container in listed:
            summary: dict[str, Any] = container._container
            ref = container_ref(str(summary.get("Id") or container.id), summary.get("Labels") or {})
            if ref is not None:
                present.add(ref.container_id)
                self.ensure(ref)
        if self._store is not None:
            gone = await self._store.containers() - present - set(self._tasks)
            await self._store.forget(sorted(gone))

    def ensure(self, ref: ContainerRef) -> Collector:
        collector = self._collectors.get(ref.container_id)
        if collector is None:
            bucket = self._buckets.get(ref.app_id)
            if bucket is None:
                bucket = self._buckets[ref.app_id] = TokenBucket(self.budget.lines_per_second, self.budget.burst)
            collector = Collector(
                self._docker, self._js, ref, self._store, self._max_bytes, bucket=bucket, from_disk=self._from_disk
            )
            self._collectors[ref.container_id] = collector
            self._tasks[ref.container_id] = asyncio.create_task(self._supervise(collector))
        return collector

    def on_started(self, container_id: str, found: dict[str, str]) -> None:
        """A container of this instance started (Docker event): follow it now."""
        ref = container_ref(container_id, found)
        if ref is not None:
            self.ensure(ref).kick()

    async def before_remove(self, container_id: str) -> None:
        """The agent is about to remove this container: stop it if it runs (SIGKILL, as the forced
        removal would) and wait, bounded, until its last lines are published."""
        collector = self._collectors.get(container_id)
        if collector is None:
            return
        container = self._docker.containers.container(container_id)
        try:
            if (await container.show()).get("State", {}).get("Running"):
                await container.kill()
        except aiodocker.DockerError as exc:
            if exc.status not in (404, 409):
                log.warning("could not stop %s before reading its last lines: %s", container_id[:12], exc.message)
            if exc.status == 404:
                return
        if not await collector.settle(time.monotonic(), SETTLE_SECONDS):
            log.warning(
                "last log lines of %s not published within %gs; removing it anyway",
                container_id[:12],
                SETTLE_SECONDS,
                extra={"app_id": collector.ref.app_id},
            )

    async def forget_app(self, app_id: str) -> None:
        self._buckets.pop(app_id, None)
        if self._store is not None:
            await self._store.forget_app(app_id)

    async def _supervise(self, collector: Collector) -> None:
        container_id = collector.ref.container_id
        failures = 0
        try:
            while True:
                began = time.monotonic()
                try:
                    await collector.run()
                    return
                except Exception as exc:
                    if time.monotonic() - began > 60:
                        failures = 0
                    delay = RESTART_BACKOFF_SECONDS[min(failures, len(RESTART_BACKOFF_SECONDS) - 1)]
                    failures += 1
                    log.warning(
                        "log collector of %s failed (%s: %s); restarting in %gs",
                        container_id[:12],
                        type(exc).__name__,
                        exc,
                        delay,
                        extra={"app_id": collector.ref.app_id},
                    )
                    await asyncio.sleep(delay)
        finally:
            self._collectors.pop(container_id, None)
            self._tasks.pop(container_id, None)

    async def shutdown(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
