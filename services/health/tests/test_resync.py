"""What a resync from the API's app list does to the health service's targets (pure decision)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from berth_health.resync import HeldApp, health_resync
from berth_shared.contracts.health import HealthCheck
from berth_shared.contracts.owner_state import AppFacts, LiveRelease

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def facts(app_id: str = "app1", live: LiveRelease | None = None, **overrides: object) -> AppFacts:
    fields: dict[str, object] = {
        "app_id": app_id,
        "name": "web",
        "hostname": "web.berth.test",
        "port": 8080,
        "subnet": "10.240.0.16/28",
    }
    return AppFacts(**{**fields, **overrides}, live=live)  # type: ignore[arg-type]


def held(app_id: str = "app1", **overrides: object) -> HeldApp:
    fields: dict[str, object] = {
        "app_id": app_id,
        "configured": True,
        "name": "web",
        "subnet": "10.240.0.16/28",
        "port": 8080,
        "release_id": "r1",
        "slot": "a",
        "live_at": T0,
    }
    return HeldApp(**{**fields, **overrides})  # type: ignore[arg-type]


def live(release_id: str = "r1", slot: str = "a", at: datetime = T0) -> LiveRelease:
    return LiveRelease(release_id=release_id, slot=slot, live_at=at)


def test_what_matches_the_owner_changes_nothing() -> None:
    assert not health_resync({"app1": held()}, [facts(live=live())]).changes


def test_a_deleted_apps_target_goes() -> None:
    # Its check history goes through berth_shared.app_cleanup (shared/tests/test_app_cleanup.py).
    plan = health_resync({"app1": held(), "gone": held("gone")}, [facts(live=live())])
    assert plan.removals == ("gone",)
    assert plan.configure == () and plan.went_live == ()


def test_an_app_never_heard_of_is_configured_and_its_live_release_checked() -> None:
    app = facts(live=live())
    plan = health_resync({}, [app])
    assert plan.configure == (app,)
    assert plan.went_live == (app,)


def test_a_changed_check_is_configured_again() -> None:
    app = facts(live=live(), health_check=HealthCheck(path="/healthz"))
    plan = health_resync({"app1": held()}, [app])
    assert plan.configure == (app,)
    assert plan.went_live == ()


def test_a_release_the_api_saw_go_live_later_replaces_the_one_held() -> None:
    app = facts(live=live("r2", "b", T0 + timedelta(seconds=5)))
    assert health_resync({"app1": held()}, [app]).went_live == (app,)


def test_an_older_live_release_from_the_api_never_replaces_a_newer_one_held() -> None:
    # The API applies ReleaseLive through its own consumer and may lag behind this service.
    app = facts(live=live("r0", "b", T0 - timedelta(seconds=5)))
    assert health_resync({"app1": held()}, [app]).went_live == ()


def test_an_app_with_nothing_live_is_not_given_a_release() -> None:
    assert health_resync({"app1": held(release_id=None, slot=None, live_at=None)}, [facts()]).went_live == ()


def test_the_live_release_held_at_other_web_addresses_is_checked_where_the_api_says() -> None:
    scaled = facts(live=LiveRelease(release_id="r1", slot="a", live_at=T0, addresses=["10.240.0.18", "10.240.0.20"]))
    assert health_resync({"app1": held(addresses=("10.240.0.18",))}, [scaled]).went_live == (scaled,)
    same = held(addresses=("10.240.0.18", "10.240.0.20"))
    assert health_resync({"app1": same}, [scaled]).went_live == ()


def test_the_live_release_the_api_says_has_no_web_instance_is_not_checked_and_back() -> None:
    none = facts(live=LiveRelease(release_id="r1", slot="a", live_at=T0, no_instances=True))
    assert health_resync({"app1": held(addresses=("10.240.0.18",))}, [none]).went_live == (none,)
    assert health_resync({"app1": held(no_instances=True)}, [none]).went_live == ()
    back = facts(live=LiveRelease(release_id="r1", slot="a", live_at=T0, addresses=["10.240.0.18"]))
    assert health_resync({"app1": held(no_instances=True)}, [back]).went_live == (back,)


def test_an_api_from_before_adr_0026_names_no_addresses_and_changes_nothing() -> None:
    assert not health_resync({"app1": held()}, [facts(live=live())]).changes
