"""berth.toml: settings applied on deploy; every problem names its key."""

from __future__ import annotations

import json

import pytest
from berth_api.app_config import parse, settings_recorded
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


def test_the_formation_sections_are_parsed_and_recorded() -> None:
    config = parse(
        'port = 8000\nrelease = "migrate"\n[processes]\nworker = "python w.py"\n'
        '[[cron]]\nname = "n"\nschedule = "@hourly"\ncommand = "report"\n'
    )
    assert config.values == {"port": 8000}
    assert config.formation is not None and config.sections == {"processes", "release", "cron"}
    assert config.formation.processes[0].command == ["python", "w.py"]
    recorded = config.as_json()["formation"]
    assert recorded["release"]["command"] == ["migrate"] and recorded["cron"][0]["name"] == "n"
    assert parse("port = 8000\n").formation is None and "formation" not in parse("port = 1\n").as_json()


def test_formation_problems_are_reported_with_the_others() -> None:
    with pytest.raises(ValidationFailed) as err:
        parse("port = 0\n[processes]\nworker = { count = 1 }\n")
    assert [d.field for d in err.value.details] == ["berth.toml: processes.worker.command", "berth.toml: port"]


def test_the_settings_a_release_recorded_come_back_for_a_rollback() -> None:
    text = 'stop_timeout = 15\n[resources]\nmemory_mb = 128\n[health]\npath = "/up"\n[processes]\nweb = { count = 2 }\n'
    config = parse(text)
    recorded = json.loads(json.dumps(config.as_json()))  # as the releases.config column holds it
    again = settings_recorded(recorded)
    assert again.values == config.values == {"stop_timeout": 15, "resources.memory_mb": 128}
    assert again.health == config.health
    assert again.formation is None  # the formation comes back with the release itself
    assert settings_recorded({"formation": {}}).values == {} and settings_recorded({}).health is None
