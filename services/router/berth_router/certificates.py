"""Certificates as Caddy stores them, and nudging Caddy to obtain one on demand.

Caddy's file storage keeps ``certificates/<issuer>/<host>/<host>.crt`` under its data
directory; the router runs beside Caddy and reads it (it never writes there).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

HANDSHAKE_TIMEOUT = 90.0


def storage_root(home: Path) -> Path:
    return home / "caddy" / "data" / "caddy" / "certificates"


def has_certificate(root: Path, hostname: str) -> bool:
    """Does Caddy hold a certificate for ``hostname`` from any issuer?"""
    if not root.is_dir():
        return False
    return any((issuer / hostname / f"{hostname}.crt").is_file() for issuer in root.iterdir())


async def request_certificate(https_port: int, hostname: str, timeout: float = HANDSHAKE_TIMEOUT) -> str | None:
    """Open a TLS handshake with SNI ``hostname`` to Caddy on loopback: with on-demand TLS, Caddy
    obtains the certificate during it (after asking the router). None on success, else the error."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", https_port, ssl=context, server_hostname=hostname), timeout
        )
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        return str(exc) or type(exc).__name__
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return None
