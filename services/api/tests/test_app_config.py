"""berth.toml: settings applied on deploy; every problem names its key."""

from __future__ import annotations

import pytest
from berth_api.app_config import parse
from berth_shared.errors import ValidationFailed


def test_settings_and_health() -> None:
    config = parse('port = 3000\ndeploy_timeout = 90\n[resources]\nmemory_mb = 512\ncpus = 1\n[health]\npath = "/up"\n')
    assert config.values == {"port": 3000, "deploy_timeout": 90, "resources.memory_mb": 512, "resources.cpus": 1.0}
    assert config.health is not None and config.health.path == "/up"
    assert config.as_json()["health"]["path"] == "/up"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("port = 0\n", "berth.toml: port"),
        ('port = "80"\n', "berth.toml: port"),
        ("prot = 80\n", "berth.toml: prot"),
        ("[resources]\nmemory_mb = 1\n", "berth.toml: resources.memory_mb"),
        ("[health]\ninterval_seconds = 0\n", "berth.toml: health.interval_seconds"),
        ("port = \n", "berth.toml"),
    ],
)
def test_problems_name_the_key(text: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        parse(text)
    assert err.value.details[0].field == field, err.value.details
