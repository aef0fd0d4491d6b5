"""Request validation: what a user sees for bad input."""

from __future__ import annotations

import pytest
from berth_api.validation import CreateApp, Deploy, HealthCheckIn
from pydantic import ValidationError


@pytest.mark.parametrize("name", ["a", "hello", "my-app-2", "0abc", "a" * 40])
def test_valid_app_names(name: str) -> None:
    assert CreateApp(name=name).name == name


@pytest.mark.parametrize("name", ["", "A", "has_underscore", "-lead", "trail-", "a" * 41, "dots.are.bad", "spa ce"])
def test_invalid_app_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError) as err:
        CreateApp(name=name)
    assert err.value.errors()[0]["loc"] == ("name",)


def test_defaults_for_port_and_resources() -> None:
    app = CreateApp(name="x")
    assert app.port == 8080
    assert app.resources.memory_mb == 256
    assert app.resources.cpus == 0.5


def test_resources_use_the_users_field_names() -> None:
    app = CreateApp.model_validate({"name": "x", "resources": {"memoryMb": 512, "cpus": 1}})
    assert app.resources.memory_mb == 512


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_port_out_of_range(port: int) -> None:
    with pytest.raises(ValidationError):
        CreateApp(name="x", port=port)


def test_unknown_fields_are_refused_not_ignored() -> None:
    with pytest.raises(ValidationError) as err:
        CreateApp.model_validate({"name": "x", "prot": 80})
    assert err.value.errors()[0]["loc"] == ("prot",)


@pytest.mark.parametrize("image", ["nginx", "nginx:1.27", "ghcr.io/me/app:v1", "localhost:5000/a/b@sha256:abc"])
def test_image_references(image: str) -> None:
    assert Deploy(image=image).image == image


@pytest.mark.parametrize("image", ["", " ", "has space", "$(rm -rf)", "x" * 300])
def test_bad_image_references(image: str) -> None:
    with pytest.raises(ValidationError):
        Deploy(image=image)


# -- health checks --


def test_health_check_defaults_match_the_issue() -> None:
    from berth_api.validation import HealthCheckIn

    check = HealthCheckIn.model_validate({"path": "/healthz"}).to_contract()
    assert (check.interval_seconds, check.timeout_seconds, check.expected_status) == (10, 5, 0)
    assert (check.healthy_threshold, check.unhealthy_threshold, check.start_period_seconds) == (1, 3, 10)
    assert (check.restart_after_seconds, check.max_restarts) == (60, 3)


@pytest.mark.parametrize(("given", "stored"), [(None, 0), (200, 200), ("2xx", 2), ("3xx", 3), (503, 503)])
def test_expected_status_forms(given: object, stored: int) -> None:
    from berth_api.validation import HealthCheckIn

    assert HealthCheckIn.model_validate({"expectedStatus": given}).to_contract().expected_status == stored


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"path": "healthz"}, "path"),
        ({"path": "/has space"}, "path"),
        ({"path": "/%zz"}, "path"),
        ({"path": "/%4"}, "path"),
        ({"path": "/a%"}, "path"),
        ({"path": '/quote"d'}, "path"),
        ({"path": "/angle<b>"}, "path"),
        ({"path": "/back\\slash"}, "path"),
        ({"path": "/frag#ment"}, "path"),
        ({"path": "/" + "a" * 1024}, "path"),
        ({"intervalSeconds": 0.5}, "intervalSeconds"),
        ({"timeoutSeconds": 0}, "timeoutSeconds"),
        ({"expectedStatus": 99}, "expectedStatus"),
        ({"expectedStatus": "6xx"}, "expectedStatus"),
        ({"expectedStatus": True}, "expectedStatus"),
        ({"healthyThreshold": 0}, "healthyThreshold"),
        ({"unhealthyThreshold": 0}, "unhealthyThreshold"),
        ({"startPeriodSeconds": -1}, "startPeriodSeconds"),
        ({"maxRestarts": -1}, "maxRestarts"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_invalid_health_checks_name_the_field(body: dict[str, object], field: str) -> None:
    from berth_api.errors import field_path
    from berth_api.validation import HealthCheckIn

    with pytest.raises(ValidationError) as err:
        HealthCheckIn.model_validate(body)
    assert field_path(("body", *err.value.errors()[0]["loc"])) == field


@pytest.mark.parametrize(
    "path",
    ["/", "/healthz", "/cgi-bin/health", "/a%20b", "/%7Euser/x", "/h?full=1&x=a%2Fb", "/a:b@c;d=e", "/" + "a" * 1023],
)
def test_health_paths_caddy_accepts_are_kept(path: str) -> None:
    from berth_api.validation import HealthCheckIn

    assert HealthCheckIn.model_validate({"path": path}).path == path


def test_health_check_given_when_creating_an_app() -> None:
    app = CreateApp.model_validate({"name": "x", "healthCheck": {"path": "/cgi-bin/health", "unhealthyThreshold": 2}})
    assert app.health_check is not None and app.health_check.to_contract().unhealthy_threshold == 2
    with pytest.raises(ValidationError) as err:
        CreateApp.model_validate({"name": "x", "healthCheck": {"intervalSeconds": 0}})
    assert err.value.errors()[0]["loc"] == ("healthCheck", "intervalSeconds")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://x/", "events": ["health.unhealthy"]}, "url"),
        ({"url": "not a url", "events": ["health.unhealthy"]}, "url"),
        ({"url": "http://127.0.0.1:9/", "events": []}, "events"),
        ({"url": "http://127.0.0.1:9/", "events": ["health.sad"]}, "events"),
    ],
)
def test_invalid_webhooks_name_the_field(body: dict[str, object], field: str) -> None:
    from berth_api.validation import WebhookIn

    with pytest.raises(ValidationError) as err:
        WebhookIn.model_validate(body)
    assert err.value.errors()[0]["loc"][0] == field


def test_a_webhook_may_subscribe_to_cron_runs_besides_health_alerts() -> None:
    from berth_api.validation import WebhookIn

    hook = WebhookIn.model_validate(
        {"url": "http://127.0.0.1:9/", "events": ["cron.failed", "cron.missed", "app.crashed"]}
    )
    assert hook.events == ["cron.failed", "cron.missed", "app.crashed"]


@pytest.mark.parametrize("name", [" hello", "hello ", "hello\n"])
def test_app_names_are_taken_as_sent_as_the_schema_says(name: str) -> None:
    with pytest.raises(ValidationError):
        CreateApp(name=name)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "a", "port": True}, ("port",)),
        ({"name": "a", "resources": {"cpus": False}}, ("resources", "cpus")),
        ({"name": "a", "healthCheck": {"maxRestarts": False}}, ("healthCheck", "maxRestarts")),
    ],
)
def test_true_and_false_are_not_numbers(body: dict[str, object], field: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as err:
        CreateApp.model_validate(body)
    assert err.value.errors()[0]["loc"] == field


def test_integral_numbers_written_with_a_fraction_are_integers() -> None:
    assert CreateApp.model_validate({"name": "a", "port": 8080.0}).port == 8080
    assert HealthCheckIn.model_validate({"expectedStatus": 204.0}).expected_status == 204
