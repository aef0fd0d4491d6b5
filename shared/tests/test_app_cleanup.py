"""A deleted app's data goes: on its AppDeleted, and at a resync when the API no longer lists it
(the event lost) -- only the stale apps', what the service held read before the API was asked,
each deletion said in the service's log with what and how much went."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from berth_shared import resync
from berth_shared.app_cleanup import AppCleanup
from berth_shared.contracts.apps import AppDeleted
from berth_shared.contracts.base import encode
from berth_shared.contracts.owner_state import AppFacts, AppList
from berth_testing import FakeMsg

log = logging.getLogger("berth.test.cleanup")  # what AppCleanup(service="test") logs as


def facts(app_id: str) -> AppFacts:
    return AppFacts(app_id=app_id, name="web", hostname="web.berth.test", port=8080, subnet="10.240.0.16/28")


class FakeService:
    """A service's tables: rows per app, and the order things happened in."""

    def __init__(self, rows: dict[str, int]) -> None:
        self.rows = rows
        self.happened: list[str] = []

    async def delete(self, app_id: str) -> int:
        self.happened.append(f"delete {app_id}")
        return self.rows.pop(app_id, 0)

    async def held(self) -> set[str]:
        self.happened.append("held read")
        return set(self.rows)

    def cleanup(self) -> AppCleanup:
        return AppCleanup(service="test", what="log line(s)", delete=self.delete, held=self.held)


async def test_an_app_deleted_event_deletes_that_apps_data_and_says_how_much(
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = FakeService({"gone": 5, "kept": 3})
    event = AppDeleted(app_id="gone", name="gone", hostname="gone.berth.test", subnet="10.240.0.16/28")

    with caplog.at_level(logging.INFO, logger=log.name):
        await service.cleanup().on_app_deleted(FakeMsg(data=encode(event)))  # type: ignore[arg-type]
        await service.cleanup().on_app_deleted(FakeMsg(data=encode(event)))  # type: ignore[arg-type]

    assert service.rows == {"kept": 3}
    assert [r.getMessage() for r in caplog.records] == [
        "deleted 5 log line(s) of app gone",
        "deleted 0 log line(s) of app gone",
    ]


async def test_only_the_apps_the_owner_no_longer_lists_are_deleted(caplog: pytest.LogCaptureFixture) -> None:
    service = FakeService({"kept": 3, "gone": 5, "old": 1})

    with caplog.at_level(logging.WARNING, logger=log.name):
        stale = await service.cleanup().delete_stale({"kept", "gone", "old"}, [facts("kept"), facts("new")])

    assert stale == ("gone", "old")
    assert service.rows == {"kept": 3}
    assert [r.getMessage() for r in caplog.records] == [
        "resync: deleted 5 log line(s) of deleted app gone (its AppDeleted was lost)",
        "resync: deleted 1 log line(s) of deleted app old (its AppDeleted was lost)",
    ]


async def test_a_resync_reads_what_is_held_before_asking_the_owner(monkeypatch: pytest.MonkeyPatch) -> None:
    service = FakeService({"kept": 3, "gone": 5})

    async def owner_apps(nc: Any, requester: str) -> AppList:
        service.happened.append(f"{requester} asked the owner")
        # Created after the held read: the owner lists it, this service holds nothing of it yet.
        return AppList(apps=[facts("kept"), facts("created-meanwhile")], as_of=datetime.now(UTC))

    monkeypatch.setattr(resync, "owner_apps", owner_apps)
    assert await service.cleanup().resync(nc=None) == ("gone",)  # type: ignore[arg-type]
    assert service.happened == ["held read", "test asked the owner", "delete gone"]
    assert service.rows == {"kept": 3}
