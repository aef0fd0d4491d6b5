"""The pure decision of which agent events the API missed (ADR 0018)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from berth_api.agent_repairs import LOST_FAILURE_REASON, Recorded, missed_events
from berth_shared.contracts.agent import AgentApps, HeldApp, HeldContainer
from berth_shared.contracts.releases import AppCleanedUp, ReleaseFailed, ReleaseLive

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
APP, OTHER = "app-1", "app-2"


def held(*apps: HeldApp) -> AgentApps:
    return AgentApps(host="local", apps=list(apps), at=NOW)


def container(release: str, slot: str = "b", running: bool = True) -> HeldContainer:
    return HeldContainer(
        release_id=release, slot=slot, container_id=f"ctr-{release}-{slot}", image_id="sha256:1", running=running
    )


def test_a_release_the_agent_made_live_while_the_api_has_it_starting_goes_live() -> None:
    agent = held(
        HeldApp(app_id=APP, containers=[container("r1", "a", running=False), container("r2", "b")], live_release="r2")
    )
    [repair] = missed_events(Recorded(unsettled={"r2": APP}), agent)
    assert isinstance(repair, ReleaseLive)
    assert (repair.app_id, repair.release_id, repair.slot, repair.container_id) == (APP, "r2", "b", "ctr-r2-b")
    assert repair.image_digest == "sha256:1"
    assert repair.at == NOW


def test_a_live_release_the_api_already_settled_changes_nothing() -> None:
    agent = held(HeldApp(app_id=APP, containers=[container("r2")], live_release="r2"))
    assert missed_events(Recorded(unsettled={"r3": APP}), agent) == []


def test_a_live_release_of_another_app_is_not_taken() -> None:
    agent = held(HeldApp(app_id=OTHER, containers=[container("r2")], live_release="r2"))
    assert missed_events(Recorded(unsettled={"r2": APP}), agent) == []


def test_a_live_release_without_a_container_waits_for_the_agent_to_restore_it() -> None:
    agent = held(HeldApp(app_id=APP, live_release="r2"))
    assert missed_events(Recorded(unsettled={"r2": APP}), agent) == []


def test_a_failed_release_still_unsettled_fails_with_a_reason_that_says_the_report_was_lost() -> None:
    agent = held(HeldApp(app_id=APP, containers=[container("r1")], live_release="r1", failed_releases=["r2"]))
    [repair] = missed_events(Recorded(unsettled={"r2": APP}), agent)
    assert isinstance(repair, ReleaseFailed)
    assert (repair.release_id, repair.reason) == ("r2", LOST_FAILURE_REASON)


def test_a_deleted_app_the_agent_cleaned_up_is_forgotten() -> None:
    agent = held(HeldApp(app_id=APP, cleaned_up=True))
    [repair] = missed_events(Recorded(deleted={APP: NOW - timedelta(seconds=5)}), agent)
    assert isinstance(repair, AppCleanedUp)
    assert (repair.app_id, repair.host) == (APP, "local")


def test_a_deleted_app_with_containers_or_a_network_left_is_kept() -> None:
    recorded = Recorded(deleted={APP: NOW - timedelta(hours=1)})
    assert missed_events(recorded, held(HeldApp(app_id=APP, containers=[container("r1")]))) == []
    assert missed_events(recorded, held(HeldApp(app_id=APP, network=True))) == []


def test_a_deleted_app_the_agent_never_heard_of_is_forgotten_only_after_the_grace() -> None:
    recent = Recorded(deleted={APP: NOW - timedelta(seconds=30)})
    old = Recorded(deleted={APP: NOW - timedelta(minutes=5)})
    assert missed_events(recent, held(), grace=timedelta(minutes=2)) == []
    [repair] = missed_events(old, held(), grace=timedelta(minutes=2))
    assert isinstance(repair, AppCleanedUp)
