"""Which apps' log data a resync from the API's app list deletes (pure decision)."""

from __future__ import annotations

from berth_logs.cleanup import stale_apps
from berth_shared.contracts.owner_state import AppFacts


def facts(app_id: str) -> AppFacts:
    return AppFacts(app_id=app_id, name="web", hostname="web.berth.test", port=8080, subnet="10.240.0.16/28")


def test_only_apps_the_owner_no_longer_has_are_stale() -> None:
    assert stale_apps({"kept", "gone"}, [facts("kept"), facts("new")]) == {"gone"}


def test_nothing_held_nothing_stale() -> None:
    assert stale_apps(set(), [facts("a")]) == set()
