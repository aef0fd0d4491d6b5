"""Periodic resync from the owner's state (ADR 0018): a thin loop, the one request, the order.

Each event-driven service reads what it holds, *then* asks the API for every app that exists
(``berth.rpc.api.apps.list``; both in :func:`held_then_owner`), decides with a pure function what
to add, update and remove, and applies it. Reading its own state first is what makes "missing
from the owner's list" mean "deleted" (:func:`stale_apps`): anything it held came from an event
the API committed before the request. Read the other way round, an app created between the two
reads would be held but missing from an older list, and its data deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from nats.aio.client import Client

from berth_shared import bus
from berth_shared.contracts.owner_state import APPS_LIST, RESYNC_SECONDS, AppFacts, AppList, ListApps

log = logging.getLogger("berth.resync")

# After a failed pass (the API not answering yet, e.g. at start): try again this soon.
RETRY_SECONDS = 5.0

Held = TypeVar("Held")


async def owner_apps(nc: Client, requester: str, timeout: float = 10.0) -> AppList:
    """Every app that exists, from the API (raises when it does not answer)."""
    return await bus.request(nc, APPS_LIST, ListApps(requester=requester), AppList, timeout=timeout)


async def held_then_owner(nc: Client, requester: str, held: Callable[[], Awaitable[Held]]) -> tuple[Held, AppList]:
    """What the service holds, read *before* the owner's list is asked for (see above), and the list."""
    holding = await held()
    return holding, await owner_apps(nc, requester)


def stale_apps(held: Iterable[str], owner: Iterable[AppFacts]) -> tuple[str, ...]:
    """The apps held (read before the list) that the owner no longer has: deleted, in order."""
    return tuple(sorted(set(held) - {app.app_id for app in owner}))


async def periodically(
    stop: asyncio.Event,
    resync: Callable[[], Awaitable[object]],
    *,
    what: str,
    interval: float = RESYNC_SECONDS,
    retry: float = RETRY_SECONDS,
) -> None:
    """Run ``resync`` now and every ``interval`` seconds until ``stop``; a failed pass is logged
    and retried after ``retry`` seconds (never raises: events keep flowing meanwhile). One
    failure is expected at start (the API may start after the service): only a second one in a
    row is a warning."""
    failures = 0
    while not stop.is_set():
        wait = interval
        try:
            await resync()
            failures = 0
        except Exception as exc:  # any failure of one pass is retried
            failures += 1
            level = logging.WARNING if failures > 1 else logging.INFO
            log.log(level, "%s resync failed (retrying in %.0fs): %s: %s", what, retry, type(exc).__name__, exc)
            wait = min(interval, retry)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
