"""The deploy gate uses the app's health check definition: path, expected status, timeout."""

from __future__ import annotations

from berth_agent.containers.run_ready import REQUEST_TIMEOUT_SECONDS, probe_for
from berth_shared.contracts.desired import DesiredApp
from berth_shared.contracts.health import HealthCheck


def app(check: HealthCheck | None) -> DesiredApp:
    return DesiredApp(
        app_id="x", name="x", hostname="x.t", port=8080, subnet="10.0.0.0/28", health_path="/old", health_check=check
    )


def test_without_a_check_the_gate_is_any_2xx_3xx_on_the_health_path() -> None:
    probe = probe_for(app(None), "10.0.0.2", 60)
    assert probe.url == "http://10.0.0.2:8080/old"
    assert (probe.expected_status, probe.request_timeout_seconds) == (0, REQUEST_TIMEOUT_SECONDS)


def test_with_a_check_the_gate_uses_its_path_status_and_timeout() -> None:
    probe = probe_for(app(HealthCheck(path="/cgi-bin/health", expected_status=200, timeout_seconds=2)), "10.0.0.3", 30)
    assert probe.url == "http://10.0.0.3:8080/cgi-bin/health"
    assert (probe.expected_status, probe.request_timeout_seconds, probe.deadline_seconds) == (200, 2, 30)
