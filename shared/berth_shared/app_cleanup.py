"""An app's data goes when the app does: the AppDeleted applier and the stale-app resync.

A service that keeps data per app (the logs service its lines, the health service its check
history) gives two coroutines over its own tables -- ``delete(app_id)``, returning how many rows
went, and ``held()``, the ids of the apps it has data of -- and a noun for what ``delete`` counts.
It gets:

- :meth:`AppCleanup.on_app_deleted`, the applier of its ``<service>-app-deleted`` consumer
  (idempotent: a redelivered AppDeleted finds nothing more to delete);
- :meth:`AppCleanup.resync`, run at start and every minute (``resync.periodically``): an
  AppDeleted can be lost, so the data of every app the API no longer lists is deleted the same
  way (ADR 0018). What the service holds is read *before* the API is asked
  (``resync.held_then_owner`` says why).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg

from berth_shared import resync
from berth_shared.contracts.apps import AppDeleted
from berth_shared.contracts.base import decode
from berth_shared.contracts.owner_state import AppFacts

# Deletes one app's data in the service's own tables; returns how many rows went.
DeleteApp = Callable[[str], Awaitable[int]]
# The ids of the apps the service holds data of.
HeldApps = Callable[[], Awaitable[Iterable[str]]]


@dataclass(frozen=True)
class AppCleanup:
    service: str  # whose data: it asks for the app list, it logs as ``berth.<service>.cleanup``
    what: str  # what ``delete`` counts, as logged: "log line(s)"
    delete: DeleteApp
    held: HeldApps

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"berth.{self.service}.cleanup")

    async def on_app_deleted(self, msg: Msg) -> None:
        event = decode(msg.data, AppDeleted)
        count = await self.delete(event.app_id)
        self.log.info("deleted %d %s of app %s", count, self.what, event.app_id, extra={"app_id": event.app_id})

    async def resync(self, nc: Client) -> tuple[str, ...]:
        """Delete the data of every app the API no longer has (its AppDeleted was lost)."""
        held, owner = await resync.held_then_owner(nc, self.service, self.held)
        return await self.delete_stale(held, owner.apps)

    async def delete_stale(self, held: Iterable[str], owner: Iterable[AppFacts]) -> tuple[str, ...]:
        """Delete the data of the apps in ``held`` (read before ``owner`` was asked for) that
        ``owner`` no longer lists; returns their ids."""
        stale = resync.stale_apps(held, owner)
        for app_id in stale:
            count = await self.delete(app_id)
            self.log.warning(
                "resync: deleted %d %s of deleted app %s (its AppDeleted was lost)",
                count,
                self.what,
                app_id,
                extra={"app_id": app_id},
            )
        return stale
