"""Settings from the environment: defaults, and a clear error naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from berth_shared.errors import ValidationFailed
from berth_shared.settings import Settings


def test_defaults(tmp_path: Path) -> None:
    s = Settings.from_env({"BERTH_HOME": str(tmp_path)})
    assert (s.domain, s.http_port, s.https_port, s.api_port) == ("localhost", 80, 443, 8000)
    assert str(s.subnet_pool) == "10.240.0.0/16" and s.host_id == "local"
    assert s.nats_url is None and s.database_url is None and s.home == tmp_path.resolve()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BERTH_HTTP_PORT", "eighty"),
        ("BERTH_API_PORT", "70000"),
        ("BERTH_SUBNET_POOL", "10.0.0.0/30"),
        ("BERTH_PUBLIC_DASHBOARD", "maybe"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        Settings.from_env({name: value})
    assert err.value.details[0].field == name


@pytest.mark.parametrize(("raw", "on"), [("", True), ("true", True), ("1", True), ("false", False), ("No", False)])
def test_the_public_dashboard_is_on_unless_switched_off(tmp_path: Path, raw: str, on: bool) -> None:
    assert Settings.from_env({"BERTH_HOME": str(tmp_path), "BERTH_PUBLIC_DASHBOARD": raw}).public_dashboard is on


def test_caddys_admin_socket_lives_under_berth_home(tmp_path: Path) -> None:
    s = Settings.from_env({"BERTH_HOME": str(tmp_path)})
    assert s.caddy_admin_socket == tmp_path.resolve() / "caddy" / "admin.sock"
