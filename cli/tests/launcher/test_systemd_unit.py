"""The systemd unit `berth service install` writes: rendered from data, checked as data."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
from berth_cli.launcher import systemd_unit as su


def _parse(text: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return parser


def test_the_unit_runs_berth_up_after_the_engine_and_restarts_it_when_it_fails() -> None:
    unit = _parse(su.render_unit(su.UnitSpec(berth=Path("/opt/berth/.venv/bin/berth"))))
    assert unit["Service"]["ExecStart"] == "/opt/berth/.venv/bin/berth up"
    assert "docker.service" in unit["Unit"]["After"].split()
    assert "docker.service" in unit["Unit"]["Wants"].split()
    # Wants, not Requires: an engine restart must not stop the platform (the agent rides it out).
    assert "Requires" not in unit["Unit"] and "BindsTo" not in unit["Unit"]
    assert unit["Service"]["Restart"] == "on-failure"
    assert unit["Service"]["EnvironmentFile"] == "-/etc/berth/berth.env"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_stop_signals_only_the_supervisor_and_waits_longer_than_its_ordered_stop() -> None:
    unit = _parse(su.render_unit(su.UnitSpec(berth=Path("/usr/local/bin/berth"))))
    # mixed: SIGTERM to `berth up` alone (it stops services, then Caddy, NATS, Postgres last).
    assert unit["Service"]["KillMode"] == "mixed"
    assert unit["Service"]["KillSignal"] == "SIGTERM"
    assert int(unit["Service"]["TimeoutStopSec"]) > sum(su.SUPERVISOR_STOP_TIMEOUTS)


def test_the_stop_timeout_follows_the_childrens_timeouts() -> None:
    assert su.stop_timeout_seconds([10, 20], margin=5) == 35
    slow = su.render_unit(su.UnitSpec(berth=Path("/b"), stop_timeouts=(100.0, 100.0)))
    assert f"TimeoutStopSec={200 + su.STOP_MARGIN_SECONDS}" in slow


def test_a_relative_berth_path_is_refused() -> None:
    with pytest.raises(ValueError, match="absolute"):
        su.render_unit(su.UnitSpec(berth=Path(".venv/bin/berth")))


def test_a_path_with_spaces_is_quoted() -> None:
    unit = su.render_unit(su.UnitSpec(berth=Path("/opt/my berth/bin/berth")))
    assert "ExecStart='/opt/my berth/bin/berth' up" in unit


def test_service_settings_keep_the_platforms_settings_and_drop_the_clients() -> None:
    env = {
        "BERTH_DOMAIN": "example.com",
        "BERTH_HOME": "~/.berth",
        "BERTH_TOKEN": "berth_x",
        "BERTH_URL": "http://127.0.0.1:8000",
        "BERTH_SERVICE_DATABASE_URL": "postgresql://x",
        "BERTH_MASTER_KEY": "a2V5",
        "DOCKER_HOST": "unix:///run/docker.sock",
        "PATH": "/usr/bin",
        "HOME": "/root",
    }
    got = su.service_settings(env, Path("/srv/berth"))
    assert got == {
        "BERTH_DOMAIN": "example.com",
        "BERTH_HOME": "/srv/berth",
        "BERTH_MASTER_KEY": "a2V5",
        "DOCKER_HOST": "unix:///run/docker.sock",
    }


def test_the_environment_file_quotes_values_and_refuses_newlines() -> None:
    text = su.render_env_file({"BERTH_DOMAIN": 'a"b\\c', "BERTH_HOME": "/srv/berth"})
    assert 'BERTH_DOMAIN="a\\"b\\\\c"' in text.splitlines()
    assert 'BERTH_HOME="/srv/berth"' in text.splitlines()
    with pytest.raises(ValueError, match="BERTH_DOMAIN"):
        su.render_env_file({"BERTH_DOMAIN": "a\nExecStart=/bin/sh"})


def test_paths_are_placed_under_the_root() -> None:
    assert su.under(Path("/tmp/r"), su.UNIT_DIR / su.UNIT_NAME) == Path("/tmp/r/etc/systemd/system/berth.service")
    assert su.under(Path("/"), su.ENV_FILE) == Path("/etc/berth/berth.env")
