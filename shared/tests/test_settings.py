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
    [("BERTH_HTTP_PORT", "eighty"), ("BERTH_API_PORT", "70000"), ("BERTH_SUBNET_POOL", "10.0.0.0/30")],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        Settings.from_env({name: value})
    assert err.value.details[0].field == name
