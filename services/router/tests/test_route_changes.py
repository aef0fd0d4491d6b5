"""Which route change an app event means, and which events are refused as poison."""

from __future__ import annotations

import pytest
from berth_router.caddy_config import Route
from berth_router.route_changes import InvalidRoute, Remove, Upsert, route_change
from berth_shared.contracts.apps import AppCreated, AppDeleted, AppUpdated

FIELDS = {"app_id": "app1", "name": "demo", "hostname": "Demo.Berth.Test.", "port": 8080, "subnet": "10.240.0.16/28"}


def test_created_upserts_the_route_with_a_normalised_hostname() -> None:
    event = AppCreated(**FIELDS, health_path="/up")
    assert route_change(event) == Upsert(
        route=Route(
            app_id="app1",
            name="demo",
            hostname="demo.berth.test",
            port=8080,
            subnet="10.240.0.16/28",
            health_path="/up",
        ),
        at=event.at,
    )


def test_updated_upserts_too() -> None:
    event = AppUpdated(**{**FIELDS, "port": 9000})
    change = route_change(event)
    assert isinstance(change, Upsert)
    assert change.route.port == 9000


def test_deleted_removes_the_route() -> None:
    event = AppDeleted(app_id="app1", name="demo", hostname="demo.berth.test", subnet="10.240.0.16/28")
    assert route_change(event) == Remove(app_id="app1", at=event.at)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("hostname", "not a host"),
        ("hostname", ""),
        ("port", 0),
        ("port", 70000),
        ("subnet", "10.240.0.16/31"),
        ("subnet", "nonsense"),
        ("health_path", "health"),
        ("health_path", "/a b"),
        ("app_id", ""),
    ],
)
def test_a_route_caddy_could_not_serve_is_refused(field: str, value: object) -> None:
    with pytest.raises(InvalidRoute):
        route_change(AppCreated(**{**FIELDS, field: value}))


def test_the_apps_health_check_stays_berths_caddy_never_probes_it() -> None:
    from berth_router.caddy_config import render
    from berth_router.route_changes import route_of
    from berth_shared.contracts.apps import AppUpdated
    from berth_shared.contracts.health import HealthCheck

    event = AppUpdated(
        app_id="a1",
        name="web",
        hostname="web.example.com",
        port=8080,
        subnet="10.240.0.16/28",
        health_path="/up",
        health_check=HealthCheck(path="/up", expected_status=204),
    )
    route = route_of(event)
    assert (route.health_path, route.expect_status) == ("/up", 204)
    rendered = __import__("json").dumps(render([route], http_port=80, admin_socket="/b/admin.sock"))
    assert '"active"' not in rendered and "/up" not in rendered and "expect_status" not in rendered


def test_domains_are_normalised_deduplicated_and_sorted() -> None:
    event = AppUpdated(**FIELDS, domains=["WWW.Example.com.", "api.example.com", "www.example.com"])
    change = route_change(event)
    assert isinstance(change, Upsert)
    assert change.route.domains == ("api.example.com", "www.example.com")
    assert change.route.hosts == ["demo.berth.test", "api.example.com", "www.example.com"]


@pytest.mark.parametrize("domain", ["not a host", "", "-x.example.com", "x_y.example.com"])
def test_an_invalid_domain_is_refused(domain: str) -> None:
    with pytest.raises(InvalidRoute, match="domain"):
        route_change(AppUpdated(**FIELDS, domains=[domain]))
