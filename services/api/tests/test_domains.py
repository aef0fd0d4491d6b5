"""Custom domains: which hostnames are valid (422) and which may be attached to an app (409)."""

from __future__ import annotations

import pytest
from berth_api.apps_store import app_updated
from berth_api.domains_store import claim_problem
from berth_api.validation import DomainIn
from pydantic import ValidationError


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("www.example.com", "www.example.com"),
        ("WWW.Example.COM.", "www.example.com"),
        ("  shop.example.co.uk ", "shop.example.co.uk"),
        ("a-b.c1.test", "a-b.c1.test"),
        ("x." * 125 + "io", "x." * 125 + "io"),
    ],
)
def test_valid_hostnames_are_lowercased_without_trailing_dot(given: str, stored: str) -> None:
    assert DomainIn(hostname=given).hostname == stored


@pytest.mark.parametrize(
    "hostname",
    [
        "",
        "localhost",
        "192.168.1.10",
        "10.0.0.1.",
        "::1",
        "[2001:db8::1]",
        "1.2.3.4.5",
        "under_score.example.com",
        "-lead.example.com",
        "trail-.example.com",
        "a..b.com",
        "*.example.com",
        "sp ace.example.com",
        "http://example.com",
        "a" * 64 + ".com",
        "x." * 126 + "io",
    ],
)
def test_invalid_hostnames_are_refused_naming_the_field(hostname: str) -> None:
    with pytest.raises(ValidationError) as err:
        DomainIn(hostname=hostname)
    assert err.value.errors()[0]["loc"] == ("hostname",)


@pytest.mark.parametrize(
    "hostname",
    ["www.example.com", "example.org", "www.shop.berth.test", "api.v2.shop.berth.test"],
)
def test_hostnames_outside_the_platform_domain_or_under_the_apps_own_may_be_attached(hostname: str) -> None:
    assert claim_problem(hostname, "shop", "berth.test") is None


@pytest.mark.parametrize(
    ("hostname", "reason"),
    [
        ("shop.berth.test", "generated hostname"),
        ("berth.test", "platform's own"),
        ("other.berth.test", "under BERTH_DOMAIN"),
        ("www.other.berth.test", "under BERTH_DOMAIN"),
        ("xshop.berth.test", "under BERTH_DOMAIN"),
    ],
)
def test_hostnames_of_the_platform_or_other_apps_are_refused(hostname: str, reason: str) -> None:
    problem = claim_problem(hostname, "shop", "berth.test")
    assert problem is not None and reason in problem


def test_app_updated_carries_the_attached_domains() -> None:
    row = {
        "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "name": "shop",
        "port": 8080,
        "subnet": "10.240.0.16/28",
        "health_path": "/",
        "health_check": None,
    }
    event = app_updated(row, "berth.test", ["b.example.com", "a.example.com"])  # type: ignore[arg-type]
    assert event.hostname == "shop.berth.test"
    assert event.domains == ["b.example.com", "a.example.com"]
    assert app_updated(row, "berth.test").domains == []  # type: ignore[arg-type]
