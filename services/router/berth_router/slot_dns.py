"""The router's slot DNS: a tiny asyncio UDP server on loopback that answers Caddy's lookups of
each app's live slot from the table it holds (the answers are :mod:`berth_router.slot_answers`'s).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import cast

from berth_shared.proxy_timing import UPSTREAM_REFRESH_SECONDS

from berth_router.slot_answers import Addresses, answer_naming, stale_for

LOOPBACK = "127.0.0.1"


class SlotDns(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.table: Mapping[str, Addresses] = {}
        self.queries = 0  # answered since start: what the proxy's lookups cost
        self._answered: dict[str, tuple[float, Addresses]] = {}  # name -> when (monotonic), what it last answered
        self._transport: asyncio.DatagramTransport | None = None
        self._closed: asyncio.Future[None] | None = None

    def serve(self, table: Mapping[str, Addresses]) -> None:
        """Answer from ``table`` (name -> addresses) from the next query on."""
        self.table = dict(table)
        self._answered = {name: last for name, last in self._answered.items() if name in self.table}

    def stale_for(self, name: str) -> float:
        """How much longer the proxy may use an answer for ``name`` other than the one served now."""
        addresses = self.table.get(name)
        if addresses is None:
            return 0.0
        return stale_for(self._answered.get(name), addresses, time.monotonic(), UPSTREAM_REFRESH_SECONDS)

    async def start(self, port: int, host: str = LOOPBACK) -> int:
        """Listen on ``host:port`` (0: any free port); the port it listens on."""
        loop = asyncio.get_running_loop()
        self._closed = loop.create_future()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        return int(transport.get_extra_info("sockname")[1])

    async def close(self) -> None:
        """Stop listening; returns once the port is free again."""
        if self._transport is not None and self._closed is not None:
            self._transport.close()
            await self._closed
        self._transport = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        response, name = answer_naming(data, self.table)
        if response is None or self._transport is None:
            return
        self.queries += 1
        if name is not None:
            self._answered[name] = (time.monotonic(), self.table[name])
        self._transport.sendto(response, addr)
