"""One HTTP check from outside the container: ``GET path`` on the slot's bridge address, with a
hard timeout. A minimal HTTP/1.1 client (status line only, ``Connection: close``): cheap enough
for hundreds of checks a second, and it needs nothing inside the image."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from berth_shared.probes import PROBE_USER_AGENT


@dataclass(frozen=True)
class ProbeResult:
    status_code: int | None
    error: str | None
    latency_ms: int


def parse_status_line(line: bytes) -> int | None:
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return None
    code = int(parts[1])
    return code if 100 <= code <= 599 else None


async def http_get_status(host: str, port: int, path: str, timeout: float) -> ProbeResult:
    started = time.perf_counter()

    def result(code: int | None, error: str | None) -> ProbeResult:
        return ProbeResult(code, error, int((time.perf_counter() - started) * 1000))

    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: {PROBE_USER_AGENT}\r\n"
                "Accept: */*\r\nConnection: close\r\n\r\n".encode()
            )
            line = await reader.readline()
    except TimeoutError:
        return result(None, f"timed out after {timeout:g}s")
    except ConnectionRefusedError:
        return result(None, "connection refused")
    except OSError as exc:
        return result(None, exc.strerror or type(exc).__name__)
    finally:
        if writer is not None:
            writer.transport.abort()
    if not line:
        return result(None, "connection closed without a response")
    code = parse_status_line(line)
    if code is None:
        return result(None, f"not an HTTP response: {line[:60]!r}")
    return result(code, None)
