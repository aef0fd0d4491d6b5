"""The live output of attached runs, relayed from the agent to `berth run` (ADR 0026 §5).

The API subscribes to ``berth.run.<app>.<run>.out`` before it commits an attached run, and keeps
the run's :class:`RunOutput` chunks in memory (at most :data:`MAX_BYTES` a run, the oldest
dropped first; kept :data:`KEEP_AFTER_END` seconds after the end), so a client that connects
late still reads from the start. A client resumes after a ``seq``; a gap in ``seq`` (dropped or
lost chunks) is the client's to tell. Stdin goes the other way, on ``….in``. The logs keep every
line of the run anyway: this is for the terminal, not the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from berth_shared.contracts.base import decode, encode
from berth_shared.contracts.runs import RunInput, RunOutput, run_input_subject, run_output_subject
from nats.aio.client import Client

log = logging.getLogger("berth.api.run_relay")

MAX_BYTES = 1024 * 1024
KEEP_AFTER_END = 300.0
# A run nobody reads and the agent never ends (lost) is forgotten after this long.
KEEP_UNENDED = 24 * 3600.0


@dataclass
class Output:
    """One run's output so far."""

    chunks: list[RunOutput] = field(default_factory=list)
    size: int = 0
    ended_at: float | None = None
    created_at: float = field(default_factory=time.monotonic)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    subscription: Any = None
    input_seq: int = 0

    def add(self, chunk: RunOutput) -> None:
        if self.ended_at is not None:
            return
        self.chunks.append(chunk)
        self.size += len(chunk.data)
        while self.size > MAX_BYTES and len(self.chunks) > 1:
            self.size -= len(self.chunks.pop(0).data)
        if chunk.eof:
            self.ended_at = time.monotonic()
        self.changed.set()

    def after(self, seq: int) -> list[RunOutput]:
        return [c for c in self.chunks if c.seq > seq]


class RunRelay:
    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.runs: dict[str, Output] = {}

    async def watch(self, app_id: str, run_id: str) -> None:
        """Start keeping the run's output (before the run is committed, so nothing is missed)."""
        self.forget_expired()
        if run_id in self.runs:
            return
        output = Output()
        self.runs[run_id] = output

        async def on_chunk(msg: Any) -> None:
            try:
                output.add(decode(msg.data, RunOutput))
            except Exception as exc:
                log.warning("run %s: bad output chunk dropped: %s", run_id, exc)

        output.subscription = await self.nc.subscribe(run_output_subject(app_id, run_id), cb=on_chunk)

    async def end(self, run_id: str, exit_code: int | None = None) -> None:
        """The run ended without its last chunk (it never started, or was lost): readers stop."""
        output = self.runs.get(run_id)
        if output is not None and output.ended_at is None:
            seq = output.chunks[-1].seq + 1 if output.chunks else 0
            output.add(RunOutput(run_id=run_id, seq=seq, eof=True, exit_code=exit_code))

    async def forget(self, run_id: str) -> None:
        output = self.runs.pop(run_id, None)
        if output is not None and output.subscription is not None:
            with contextlib.suppress(Exception):
                await output.subscription.unsubscribe()

    def known(self, run_id: str) -> bool:
        return run_id in self.runs

    async def follow(self, run_id: str, after: int = -1, *, idle: float = 15.0) -> AsyncIterator[RunOutput | None]:
        """The run's chunks after ``after``, then each new one as it comes, up to the last
        (``eof``); None every ``idle`` seconds without output (a heartbeat)."""
        output = self.runs.get(run_id)
        if output is None:
            return
        while True:
            output.changed.clear()
            for chunk in output.after(after):
                after = chunk.seq
                yield chunk
                if chunk.eof:
                    return
            if output.ended_at is not None:
                return
            try:
                await asyncio.wait_for(output.changed.wait(), timeout=idle)
            except TimeoutError:
                yield None

    async def send_input(self, app_id: str, run_id: str, data: bytes, *, eof: bool = False) -> int:
        """Forward a piece of the terminal's stdin to the agent; returns its ``seq``."""
        output = self.runs.get(run_id)
        seq = 0
        if output is not None:
            seq, output.input_seq = output.input_seq, output.input_seq + 1
        message = RunInput(run_id=run_id, seq=seq, data=data, eof=eof)
        await self.nc.publish(run_input_subject(app_id, run_id), encode(message))
        return seq

    def forget_expired(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for run_id, output in list(self.runs.items()):
            ended = output.ended_at is not None and now - output.ended_at > KEEP_AFTER_END
            if ended or now - output.created_at > KEEP_UNENDED:
                del self.runs[run_id]
                if output.subscription is not None:
                    with contextlib.suppress(Exception):
                        asyncio.get_running_loop().create_task(output.subscription.unsubscribe())


_RELAYS: weakref.WeakKeyDictionary[Client, RunRelay] = weakref.WeakKeyDictionary()


def of(nc: Client) -> RunRelay:
    """The API process's relay (one per bus connection)."""
    relay = _RELAYS.get(nc)
    if relay is None:
        relay = _RELAYS[nc] = RunRelay(nc)
    return relay
