"""A thin client of Caddy's admin API: read the running config, load a whole new one."""

from __future__ import annotations

import json
from typing import Any

from berth_shared import http1


class CaddyLoadFailed(Exception):
    """Caddy refused or could not apply a config."""


class CaddyAdmin:
    """Caddy's admin API on its Unix socket (mode 0600): no TCP port any local user could reach."""

    def __init__(self, socket_path: str, *, timeout: float = 10.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    async def call(self, method: str, path: str, body: bytes = b"") -> http1.Response:
        return await http1.request(
            "",
            0,
            method,
            path,
            # The admin API checks the Host of every request; on a Unix socket it accepts this one.
            host="127.0.0.1",
            body=body,
            content_type="application/json" if body else None,
            timeout=self.timeout,
            unix_socket=self.socket_path,
        )

    async def config(self) -> Any:
        """The config Caddy runs now (``None`` when it runs none)."""
        response = await self.call("GET", "/config/")
        if response.status != 200:
            raise http1.HttpError(f"caddy answered {response.status} to GET /config/: {response.text.strip()}")
        return response.json()

    async def load(self, config: dict[str, Any]) -> None:
        response = await self.call("POST", "/load", json.dumps(config).encode())
        if response.status != 200:
            raise CaddyLoadFailed(f"caddy answered {response.status}: {response.text.strip()}")

    async def close(self) -> None:
        """Nothing to release: every call opens and closes its own connection."""
