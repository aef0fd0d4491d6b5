"""What a resync from the API's app list does to the routes table (pure decision)."""

from __future__ import annotations

from berth_router.caddy_config import Route
from berth_router.resync import route_resync
from berth_shared.contracts.health import HealthCheck
from berth_shared.contracts.owner_state import AppFacts


def facts(app_id: str = "app1", **overrides: object) -> AppFacts:
    fields: dict[str, object] = {
        "app_id": app_id,
        "name": f"n-{app_id}",
        "hostname": f"n-{app_id}.berth.test",
        "port": 8080,
        "subnet": "10.240.0.16/28",
    }
    return AppFacts(**{**fields, **overrides})  # type: ignore[arg-type]


def route(app_id: str = "app1", **overrides: object) -> Route:
    fields: dict[str, object] = {
        "app_id": app_id,
        "name": f"n-{app_id}",
        "hostname": f"n-{app_id}.berth.test",
        "port": 8080,
        "subnet": "10.240.0.16/28",
    }
    return Route(**{**fields, **overrides})  # type: ignore[arg-type]


def test_routes_that_match_the_owner_change_nothing() -> None:
    plan = route_resync({"app1": route()}, [facts()])
    assert not plan.changes
    assert plan.upserts == () and plan.removals == ()


def test_a_route_of_an_app_the_owner_no_longer_has_is_removed() -> None:
    plan = route_resync({"app1": route(), "gone": route("gone")}, [facts()])
    assert plan.removals == ("gone",)
    assert plan.upserts == ()


def test_an_app_without_a_route_gets_one() -> None:
    plan = route_resync({}, [facts(domains=["WWW.Example.com."])])
    assert plan.upserts == (route(domains=("www.example.com",)),)


def test_a_changed_app_is_updated_with_what_the_owner_says() -> None:
    check = HealthCheck(path="/healthz", expected_status=204)
    plan = route_resync({"app1": route()}, [facts(port=9000, health_path="/healthz", health_check=check)])
    assert plan.upserts == (route(port=9000, health_path="/healthz", expect_status=204),)


def test_an_app_that_cannot_be_routed_is_reported_and_left_alone() -> None:
    plan = route_resync({"bad": route("bad")}, [facts("bad", subnet="not-a-subnet")])
    assert plan.upserts == () and plan.removals == ()
    assert [app_id for app_id, _ in plan.invalid] == ["bad"]
