"""Caddy's on-demand TLS ``ask`` endpoint, served by the router on 127.0.0.1 only.

Before Caddy asks a CA for a certificate during a TLS handshake, it calls
``GET /ask?domain=<name>``; only a 200 lets it proceed. The router approves exactly the
hostnames it routes and trusts (generated hostnames, the platform's own, attached domains once
verified), so nobody can make this server request certificates for arbitrary names.

The same server answers ``GET /.well-known/berth-verify`` (Caddy proxies that path of every
host here over HTTP) with the router's token for the request's ``Host``: fetching it through a
hostname proves the name leads to this host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("berth.router.ask")

MAX_REQUEST_BYTES = 8192


VERIFY_PATH = "/.well-known/berth-verify"


def decide(target: str, known: set[str], host: str = "", token: Callable[[str], str] | None = None) -> tuple[int, str]:
    """The status and body for one request target such as ``/ask?domain=x`` (pure)."""
    parts = urlsplit(target)
    if parts.path == VERIFY_PATH and token is not None and host:
        return 200, token(normalize(host.rsplit(":", 1)[0] if not host.endswith("]") else host))
    if parts.path != "/ask":
        return 404, "not found"
    names = parse_qs(parts.query).get("domain", [])
    if len(names) != 1 or not names[0]:
        return 400, "expected one domain parameter"
    name = normalize(names[0])
    if name in known:
        return 200, "ok"
    return 403, f"{name} is not a verified hostname of any app"


def normalize(name: str) -> str:
    return name.strip().lower().removesuffix(".")


def header(head: bytes, name: bytes) -> str:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip().decode("latin-1")
    return ""


class AskServer:
    def __init__(
        self,
        hosts: Callable[[], Awaitable[set[str]]],
        token: Callable[[str], str] | None = None,
        on_refused: Callable[[str, str], Awaitable[None]] | None = None,
    ) -> None:
        self.hosts = hosts
        self.token = token
        self.on_refused = on_refused
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self, port: int = 0) -> int:
        """Listen on 127.0.0.1:``port`` (0 or a busy port: any free one); returns the port."""
        try:
            self.server = await asyncio.start_server(self.handle, "127.0.0.1", port)
        except OSError:
            if port == 0:
                raise
            self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await self.server.wait_closed()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            request_line = head[:MAX_REQUEST_BYTES].split(b"\r\n", 1)[0].decode("latin-1")
            method, target, _ = request_line.split(" ", 2)
            if method != "GET":
                status, reason = 405, "method not allowed"
            elif urlsplit(target).path == VERIFY_PATH:
                status, reason = decide(target, set(), header(head, b"host"), self.token)
            else:
                status, reason = decide(target, await self.hosts())
                if status == 403 and self.on_refused is not None:
                    await self.on_refused(normalize(parse_qs(urlsplit(target).query)["domain"][0]), reason)
            if status != 200:
                log.info("ask refused %s: %s", target, reason)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            status, reason = 400, "bad request"
        except Exception as exc:  # the store is down: refuse, Caddy asks again on the next handshake
            log.warning("ask failed: %s", exc)
            status, reason = 503, "unavailable"
        body = reason.encode()
        writer.write(
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'refused'}\r\n"
            f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        with contextlib.suppress(Exception):
            await writer.drain()
            writer.close()
            await writer.wait_closed()
