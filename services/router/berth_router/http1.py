"""The router's only HTTP client: one request per connection, to loopback Caddy or a verified name.

The router talks HTTP to exactly two kinds of peers: Caddy's admin API (on a Unix socket) and (for domain
verification) its own token endpoint through a hostname. Neither needs pooling, redirects,
TLS or cookies, so this stdlib client replaces a general one and keeps ~2.5 MB out of the
router's memory. HTTP/1.0 with ``Connection: close``: the body ends where the connection does
(chunked bodies are decoded too, should a server send one anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

MAX_RESPONSE_BYTES = 16 * 1024 * 1024


class HttpError(Exception):
    """The peer could not be reached, timed out, or sent something that is not HTTP."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


def encode_request(method: str, path: str, host: str, body: bytes = b"", content_type: str | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.0", f"Host: {host}", "Connection: close", f"Content-Length: {len(body)}"]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def decode_chunked(data: bytes) -> bytes:
    out = bytearray()
    while True:
        size_line, sep, rest = data.partition(b"\r\n")
        if not sep:
            raise HttpError("truncated chunked body")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise HttpError(f"bad chunk size {size_line[:20]!r}") from None
        if size == 0:
            return bytes(out)
        if len(rest) < size + 2:
            raise HttpError("truncated chunked body")
        out += rest[:size]
        data = rest[size + 2 :]


def parse_response(raw: bytes) -> Response:
    """A whole response as read until the server closed the connection (pure)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise HttpError("no complete response head")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise HttpError(f"not an HTTP response: {status_line[:60]!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        key, colon, value = line.partition(":")
        if colon:
            headers[key.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = decode_chunked(body)
    elif "content-length" in headers and headers["content-length"].isdigit():
        length = int(headers["content-length"])
        if len(body) < length:
            raise HttpError("truncated body")
        body = body[:length]
    return Response(int(parts[1]), headers, body)


async def request(
    address: str,
    port: int,
    method: str,
    path: str,
    *,
    host: str,
    body: bytes = b"",
    content_type: str | None = None,
    timeout: float = 10.0,
    unix_socket: str | None = None,
) -> Response:
    """Send one request to ``address:port`` (or the Unix socket ``unix_socket``) with
    ``Host: host``; the whole response."""
    try:
        async with asyncio.timeout(timeout):
            if unix_socket is not None:
                reader, writer = await asyncio.open_unix_connection(unix_socket)
            else:
                reader, writer = await asyncio.open_connection(address, port)
            try:
                writer.write(encode_request(method, path, host, body, content_type))
                await writer.drain()
                raw = await reader.read(MAX_RESPONSE_BYTES + 1)
                while chunk := await reader.read(65536):
                    raw += chunk
                    if len(raw) > MAX_RESPONSE_BYTES:
                        raise HttpError("response too large")
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
    except TimeoutError:
        raise HttpError(f"no answer within {timeout:g}s") from None
    except OSError as exc:
        raise HttpError(str(exc) or type(exc).__name__) from None
    return parse_response(raw)
