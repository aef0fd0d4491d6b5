"""How the router's event handler treats stored, refused and unstorable route changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from berth_router.caddy_admin import CaddyAdmin
from berth_router.domain_store import DomainStore
from berth_router.route_changes import RouteChange, Upsert
from berth_router.router import Router
from berth_router.sync import CaddySync
from berth_shared import bus
from berth_shared.contracts.apps import AppCreated
from berth_shared.contracts.base import encode


@dataclass
class FakeMsg:
    data: bytes


@dataclass
class FakeStore:
    fail: bool = False
    applied: list[RouteChange] = field(default_factory=list)

    async def apply(self, change: RouteChange) -> None:
        if self.fail:
            raise ConnectionError("database unavailable")
        self.applied.append(change)

    async def all(self) -> list[object]:
        return []


def router_with(store: FakeStore) -> Router:
    admin = CaddyAdmin("/nonexistent/admin.sock")
    sync = CaddySync(admin, store.all, http_port=80, admin_socket="/nonexistent/admin.sock")
    # Route events never touch the domain table (the domain loop follows the routes on its own).
    return Router(store, admin, sync, DomainStore(cast(Any, None)))


def created(**overrides: object) -> FakeMsg:
    fields: dict[str, object] = {
        "app_id": "app1",
        "name": "demo",
        "hostname": "demo.berth.test",
        "port": 8080,
        "subnet": "10.240.0.16/28",
    }
    return FakeMsg(encode(AppCreated(**{**fields, **overrides})))


async def test_a_stored_change_wakes_the_caddy_sync() -> None:
    store = FakeStore()
    router = router_with(store)
    await router.on_app_event(created())
    assert [type(c) for c in store.applied] == [Upsert]
    assert router.sync.wake.is_set()
    await router.admin.close()


async def test_a_change_that_could_not_be_stored_raises_so_the_event_is_redelivered() -> None:
    router = router_with(FakeStore(fail=True))
    with pytest.raises(ConnectionError):
        await router.on_app_event(created())
    assert not router.sync.wake.is_set()
    await router.admin.close()


async def test_an_unservable_route_is_poison_and_never_stored() -> None:
    store = FakeStore()
    router = router_with(store)
    with pytest.raises(bus.Poison):
        await router.on_app_event(created(subnet="not-a-subnet"))
    assert store.applied == []
    await router.admin.close()
