"""Berth's one HTTP client: one plain request per connection, stdlib only.

Its peers are all near and simple: Caddy's admin API (on a Unix socket) and, for domain
verification, the router's own token endpoint through a hostname (:func:`request`); apps' health
checks from the health service and the API's ``/healthz`` from the launcher (:func:`get_status`:
the status line only). None needs pooling, redirects, TLS or cookies, so this client replaces a
general one: it keeps ~2.5 MB out of the router's memory and any HTTP library out of the
launcher (ADR 0001's addendum), and it is cheap enough for hundreds of health checks a second.
HTTP/1.0 with ``Connection: close`` by default: the body ends where the connection does
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


def encode_request(
    method: str,
    path: str,
    host: str,
    body: bytes = b"",
    content_type: str | None = None,
    *,
    version: str = "1.0",
    headers: tuple[tuple[str, str], ...] = (),
) -> bytes:
    lines = [f"{method} {path} HTTP/{version}", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines += ["Connection: close", f"Content-Length: {len(body)}"]
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


def parse_status_line(line: bytes) -> int | None:
    """The status code of an HTTP/1 status line (100 to 599), or None when it is not one."""
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return None
    code = int(parts[1])
    return code if 100 <= code <= 599 else None


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


async def get_status(
    address: str,
    port: int,
    path: str,
    *,
    host: str | None = None,
    timeout: float,
    version: str = "1.0",
    headers: tuple[tuple[str, str], ...] = (),
) -> int:
    """``GET path`` on ``address:port``; the status code only (the connection is dropped after the
    status line). Raises :class:`HttpError` saying why there is none: ``timed out after Ns``,
    ``connection refused``, the system's reason, ``connection closed without a response`` or
    ``not an HTTP response: ...``."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(address, port)
            writer.write(encode_request("GET", path, host or f"{address}:{port}", version=version, headers=headers))
            line = await reader.readline()
    except TimeoutError:
        raise HttpError(f"timed out after {timeout:g}s") from None
    except ConnectionRefusedError:
        raise HttpError("connection refused") from None
    except OSError as exc:
        raise HttpError(exc.strerror or type(exc).__name__) from None
    finally:
        if writer is not None:
            writer.transport.abort()
    if not line:
        raise HttpError("connection closed without a response")
    code = parse_status_line(line)
    if code is None:
        raise HttpError(f"not an HTTP response: {line[:60]!r}")
    return code
