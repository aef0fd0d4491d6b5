"""Which web instances are checked and what one check of all of them says (ADR 0026 §2)."""

from __future__ import annotations

import pytest
from berth_health.instances import instance_hosts, judge, serves_web
from berth_health.probe import ProbeResult
from berth_shared.contracts.health import HealthCheck

SUBNET = "10.240.0.16/28"
OK = ProbeResult(200, None, 5)


def test_every_named_web_address_is_checked_in_the_agents_order() -> None:
    assert instance_hosts(SUBNET, "b", ["10.240.0.19", "10.240.0.22", "10.240.0.21"]) == (
        "10.240.0.19",
        "10.240.0.22",
        "10.240.0.21",
    )


def test_no_address_named_is_the_slots_fixed_one_as_with_an_older_agent() -> None:
    assert instance_hosts(SUBNET, "a", []) == ("10.240.0.18",)
    assert instance_hosts(SUBNET, "b", []) == ("10.240.0.19",)


def test_an_address_outside_the_apps_subnet_or_repeated_is_never_probed() -> None:
    named = ["10.240.0.19", "10.240.1.5", "nonsense", "10.240.0.19", "10.240.0.20"]
    assert instance_hosts(SUBNET, "b", named) == ("10.240.0.19", "10.240.0.20")
    assert instance_hosts(SUBNET, "b", ["192.168.1.1"]) == ("10.240.0.19",)


def test_the_app_is_healthy_when_every_instance_passes_and_records_the_slowest() -> None:
    outcome = judge(HealthCheck(), [("10.0.0.3", OK), ("10.0.0.5", ProbeResult(204, None, 40))])
    assert outcome.ok and outcome.reason == ""
    assert outcome.result.latency_ms == 40


def test_the_app_is_as_healthy_as_its_worst_instance_and_the_reason_names_it() -> None:
    check = HealthCheck(path="/healthz", expected_status=200)
    sick = ProbeResult(500, None, 3)
    outcome = judge(check, [("10.0.0.3", OK), ("10.0.0.5", sick), ("10.0.0.6", ProbeResult(None, "timed out", 2000))])
    assert not outcome.ok
    assert outcome.reason == "instance 10.0.0.5: GET /healthz: HTTP 500, expected status 200"
    assert outcome.result == sick


def test_one_instance_reads_as_before() -> None:
    outcome = judge(HealthCheck(path="/"), [("10.0.0.2", ProbeResult(None, "connection refused", 1))])
    assert (outcome.ok, outcome.reason) == (False, "GET /: connection refused")


def test_a_check_of_no_instance_is_a_mistake() -> None:
    with pytest.raises(ValueError):
        judge(HealthCheck(), [])


def test_only_web_instances_speak_for_the_apps_health() -> None:
    assert serves_web("web", "")
    assert not serves_web("worker", "")
    assert not serves_web("release", "")
    assert not serves_web("cron", "0eaa7656-0000-4000-8000-000000000000")
    assert not serves_web("web", "a-run")  # a one-off run's container is never a web instance
