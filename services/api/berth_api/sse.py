"""Server-Sent Events framing, and the live tail of an app's logs as an event stream.

The tail never buffers without bound: it asks the logs service for at most ``chunk`` lines at
a time and only asks again after the previous chunk was handed to the server, which waits for
a slow client's socket to drain. A client more than ``max_behind`` lines behind the newest
line skips ahead: it gets an ``event: skipped`` naming the gap, then the recent lines.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
from berth_shared.contracts.logs import LogItem, LogPage, LogQuery
from berth_shared.errors import BerthError

log = logging.getLogger("berth.api.sse")

Fetch = Callable[[LogQuery], Awaitable[LogPage]]
Disconnected = Callable[[], Awaitable[bool]]

POLL_SECONDS = 0.3
HEARTBEAT_SECONDS = 15.0
CHUNK = 500
MAX_BEHIND = 10_000


def event(data: Any, *, id: int | None = None, name: str | None = None) -> str:
    """One SSE event; ``data`` is JSON-encoded on one line."""
    head = f"id: {id}\n" if id is not None else ""
    if name:
        head += f"event: {name}\n"
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n"


def comment(text: str) -> str:
    return ": " + text.replace("\n", " ") + "\n\n"


def item_view(item: LogItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "timestamp": item.timestamp,
        "stream": item.stream,
        "releaseId": item.release_id,
        "message": item.message,
        "process": item.process,
        "runId": item.run_id or None,
    }


def parse_last_event_id(value: str | None) -> int | None:
    """The line id to resume after; None when absent. Raises ValueError when not a line id."""
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise ValueError(f"not a line id: {value!r}")
    return int(text)


async def follow(
    fetch: Fetch,
    base: LogQuery,
    *,
    after_id: int | None,
    disconnected: Disconnected,
    recent: int = 200,
    poll: float = POLL_SECONDS,
    heartbeat: float = HEARTBEAT_SECONDS,
    chunk: int = CHUNK,
    max_behind: int = MAX_BEHIND,
) -> AsyncIterator[str]:
    """The event stream of ``base``'s lines: the ``recent`` newest (or those after ``after_id``),
    then new ones as they arrive, until the client goes away."""
    last_sent = time.monotonic()
    unavailable = False
    yield comment("berth log stream")
    if after_id is None:
        page = await fetch(msgspec.structs.replace(base, tail=True, limit=recent, after_id=None))
        for item in page.items:
            yield event(item_view(item), id=item.id)
        after_id = page.items[-1].id if page.items else 0
    while not await disconnected():
        try:
            page = await fetch(
                msgspec.structs.replace(base, tail=False, after_id=after_id, limit=chunk, lag_cap=max_behind)
            )
        except BerthError as exc:
            # The logs service restarting: keep the stream open and try again.
            if not unavailable:
                yield comment(f"logs unavailable, retrying: {exc.message}")
                unavailable = True
                last_sent = time.monotonic()
            await asyncio.sleep(poll * 3)
            continue
        unavailable = False
        for item in page.items:
            yield event(item_view(item), id=item.id)
            after_id = item.id
        if page.items:
            last_sent = time.monotonic()
        if page.items and page.lag is not None and page.lag > max_behind:
            newest = await fetch(msgspec.structs.replace(base, tail=True, limit=recent, after_id=None))
            fresh = [i for i in newest.items if i.id > after_id]
            if fresh:
                yield event(
                    {
                        "skipped": True,
                        "afterId": after_id,
                        "resumeAt": fresh[0].id,
                        "reason": f"client more than {max_behind} lines behind; skipped to the newest lines",
                    },
                    name="skipped",
                )
                for item in fresh:
                    yield event(item_view(item), id=item.id)
                after_id = fresh[-1].id
            continue
        if page.next_cursor is not None:
            continue  # more waiting right now: fetch again once this chunk was written
        if time.monotonic() - last_sent >= heartbeat:
            yield comment("keep-alive")
            last_sent = time.monotonic()
        await asyncio.sleep(poll)
