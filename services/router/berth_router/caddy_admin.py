"""A thin client of Caddy's admin API: read the running config, load a whole new one."""

from __future__ import annotations

from typing import Any

import httpx


class CaddyLoadFailed(Exception):
    """Caddy refused or could not apply a config."""


class CaddyAdmin:
    def __init__(self, admin_port: int, *, timeout: float = 10.0) -> None:
        self.client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{admin_port}", timeout=timeout)

    async def config(self) -> Any:
        """The config Caddy runs now (``None`` when it runs none)."""
        response = await self.client.get("/config/")
        response.raise_for_status()
        return response.json()

    async def load(self, config: dict[str, Any]) -> None:
        response = await self.client.post("/load", json=config)
        if response.status_code != 200:
            raise CaddyLoadFailed(f"caddy answered {response.status_code}: {response.text.strip()}")

    async def close(self) -> None:
        await self.client.aclose()
