"""Requests to the health service over ``berth.rpc.health.*``: its absence is a 503 that says so."""

from __future__ import annotations

from typing import Any

import nats.errors
from berth_shared import bus
from berth_shared.errors import BusUnavailable


async def ask(nc: Any, subject: str, message: Any, reply: type[Any], timeout: float = 10.0) -> Any:
    try:
        return await bus.request(nc, subject, message, reply, timeout=timeout)
    except (nats.errors.NoRespondersError, nats.errors.TimeoutError, TimeoutError) as exc:
        raise BusUnavailable(f"the health service is not answering ({type(exc).__name__}); try again shortly") from None
    except (nats.errors.ConnectionClosedError, nats.errors.NoServersError) as exc:
        raise BusUnavailable(f"not connected to the bus: {exc}") from None
