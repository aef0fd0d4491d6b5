"""Per-app proxy logs: what Caddy and the router did for an app, in the app's own logs.

Caddy sends two logs to the router's loopback sink (see ``caddy_config.logging_config``): its
TLS progress and errors, and the access log of failed requests. :func:`note_of` turns one entry
into a line for the app it concerns (pure); :class:`Throttle` keeps a flood of identical
failures to one line plus a count per window; :class:`AppLogWriter` publishes the lines as
``LogBatch`` (stream ``proxy``) that the logs service stores beside the app's stdout/stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from berth_shared import bus
from berth_shared.contracts.domains import issuer_for
from berth_shared.contracts.logs import LogBatch, LogLine, log_subject
from nats.js import JetStreamContext

log = logging.getLogger("berth.router.proxy")

PROXY_STREAM = "proxy"
# Statuses the proxy itself produces when no slot of the app answered.
ROUTING_FAILURES = {502: "no slot answered", 503: "no healthy slot", 504: "the app timed out"}
# The header Caddy's answer for an app without a web instance carries (``caddy_config.app_route``).
ROUTE_HEADER, NO_INSTANCE = "X-Berth-Route", "no-instance"
# The steps of obtaining a certificate worth a line (Caddy logs more, such as its locks).
TLS_PROGRESS = frozenset(
    {
        "obtaining certificate",
        "trying to solve challenge",
        "authorization finalized",
        "certificate obtained successfully",
    }
)
THROTTLE_WINDOW = 10.0
FLUSH_INTERVAL = 0.5
MAX_LINE = 2048


@dataclass(frozen=True)
class Note:
    """One line for one host's app: ``key`` groups repeats (throttled together)."""

    host: str
    kind: str  # "routing" | "tls" | "tls-error"
    key: str
    message: str


def note_of(entry: dict[str, Any]) -> Note | None:
    """The line an entry of Caddy's log means for an app, or None (pure)."""
    logger = entry.get("logger", "")
    msg = str(entry.get("msg", ""))
    if logger == "http.log.access":
        request = entry.get("request") or {}
        status = int(entry.get("status") or 0)
        if status not in ROUTING_FAILURES:
            return None
        host = str(request.get("host", "")).lower()
        host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        path = str(request.get("uri", "")).split("?", 1)[0]  # query strings may carry secrets
        what = f"{request.get('method', '?')} {path}"
        if (entry.get("resp_headers") or {}).get(ROUTE_HEADER) == [NO_INSTANCE]:
            text = f"routing: {status} for {what} on {host}: no web instance (web is scaled to 0)"
            return Note(host, "routing", f"routing:{status}:{NO_INSTANCE}", text)
        text = f"routing: {status} for {what} on {host}: {ROUTING_FAILURES[status]} (Caddy answered for the app)"
        return Note(host, "routing", f"routing:{status}", text)
    identifier = str(entry.get("identifier") or entry.get("server_name") or "").lower()
    if not identifier or logger not in ("tls.obtain", "tls.on_demand", "http.acme_client"):
        return None
    error = entry.get("error")
    if error or entry.get("level") in ("error", "warn"):
        detail = str(error or msg)
        return Note(identifier, "tls-error", f"tls-error:{msg}", f"tls: {identifier}: {msg}: {detail}")
    if msg not in TLS_PROGRESS:
        return None
    challenge = entry.get("challenge_type")
    extra = f" ({challenge})" if challenge else ""
    return Note(identifier, "tls", f"tls:{msg}", f"tls: {identifier}: {msg}{extra}")


@dataclass
class Throttle:
    """The first line of a kind passes; repeats within the window are counted, then summarised."""

    window: float = THROTTLE_WINDOW
    opened: dict[tuple[str, str], float] = field(default_factory=dict)
    repeats: dict[tuple[str, str], int] = field(default_factory=dict)

    def offer(self, app_id: str, key: str, now: float) -> bool:
        slot = (app_id, key)
        started = self.opened.get(slot)
        if started is None or now - started >= self.window:
            self.opened[slot] = now
            return True
        self.repeats[slot] = self.repeats.get(slot, 0) + 1
        return False

    def expired(self, now: float) -> list[tuple[str, str, int]]:
        """(app_id, key, repeats) of windows now over that held repeats; forgets them."""
        out: list[tuple[str, str, int]] = []
        for slot, started in list(self.opened.items()):
            if now - started >= self.window:
                count = self.repeats.pop(slot, 0)
                del self.opened[slot]
                if count:
                    out.append((*slot, count))
        return out


def rfc3339_ns(ns: int) -> str:
    seconds, rest = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{rest:09d}Z"


class AppLogWriter:
    """Buffers lines per app and publishes them as ``LogBatch`` on the app's ``proxy`` stream."""

    def __init__(self, js: JetStreamContext, host_id: str) -> None:
        self.js = js
        self.origin = f"router:{host_id}"
        self.pending: dict[str, list[LogLine]] = {}
        self.seq = 0
        self.wake = asyncio.Event()

    def write(self, app_id: str, message: str) -> None:
        self.seq += 1
        line = LogLine(ts=rfc3339_ns(time.time_ns()), message=message[:MAX_LINE], seq=self.seq)
        self.pending.setdefault(app_id, []).append(line)
        self.wake.set()

    async def flush(self) -> None:
        batches, self.pending = self.pending, {}
        for app_id, lines in batches.items():
            batch = LogBatch(
                app_id=app_id, release_id="", slot="", container_id=self.origin, stream=PROXY_STREAM, lines=lines
            )
            msg_id = f"{self.origin}:{PROXY_STREAM}:{lines[0].ts}:{lines[0].seq}"
            try:
                await bus.publish(self.js, log_subject(app_id, PROXY_STREAM), batch, msg_id=msg_id)
            except Exception as exc:  # the bus is down: keep them for the next flush
                log.warning("proxy log lines for %s not published yet: %s", app_id, exc)
                self.pending.setdefault(app_id, [])[:0] = lines
                return

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=FLUSH_INTERVAL * 4)
            self.wake.clear()
            await self.flush()
            await asyncio.sleep(FLUSH_INTERVAL)  # batch what arrives meanwhile; not a wait for a condition
        await self.flush()


class ProxyLog:
    """What goes into apps' proxy logs: Caddy's entries turned into lines (:func:`note_of`) and
    the router's own lines, each kind throttled per app (:class:`Throttle`), then written."""

    def __init__(
        self,
        writer: AppLogWriter,
        *,
        tls_internal: bool = False,
        on_tls_error: Callable[[str, str], None] = lambda host, error: None,
    ) -> None:
        self.writer = writer
        self.tls_internal = tls_internal
        self.on_tls_error = on_tls_error
        self.throttle = Throttle()
        self.app_of_host: dict[str, str] = {}

    def write(self, app_id: str, message: str, key: str) -> None:
        if self.throttle.offer(app_id, key, time.monotonic()):
            self.writer.write(app_id, message)

    async def on_caddy_entry(self, entry: dict[str, Any]) -> None:
        note = note_of(entry)
        if note is None:
            return
        if note.kind == "tls" and issuer_for(note.host, tls_internal=self.tls_internal) == "internal":
            return  # the internal CA's routine issuance is not news; its errors still are
        if note.kind == "tls-error":
            log.warning("%s", note.message)
            self.on_tls_error(note.host, note.message.split(": ", 2)[-1])
        app_id = self.app_of_host.get(note.host)
        if app_id is not None:
            self.write(app_id, note.message, note.key)

    async def summarize_repeats(self, stop: asyncio.Event) -> None:
        """Every few seconds: "(the line above, <kind>, repeated N more times)" for throttled lines."""
        while not stop.is_set():
            for app_id, key, count in self.throttle.expired(time.monotonic()):
                self.writer.write(app_id, f"(the line above, {key.split(':')[0]}, repeated {count} more times)")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=2.0)


class ProxyLogSink:
    """Reads Caddy's JSON log lines on 127.0.0.1 and hands each parsed entry on."""

    def __init__(self, on_entry: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self.on_entry = on_entry
        self.server: asyncio.Server | None = None

    async def start(self, port: int) -> None:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", port, limit=1 << 20)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await self.server.wait_closed()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict):
                    await self.on_entry(entry)
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()
