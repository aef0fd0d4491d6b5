"""The master key: created once in $BERTH_HOME with mode 0600, handed to the API process only."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from berth_api import keyring
from berth_cli.launcher.home import Home, MasterKeyError, check_master_key, ensure_master_key_file
from berth_cli.launcher.platform import Platform


def test_created_at_first_start_with_mode_0600_and_readable_by_the_api(tmp_path: Path) -> None:
    home = Home(tmp_path)
    path, created = ensure_master_key_file(home)
    assert created and path == tmp_path / "master.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ring = keyring.load({"BERTH_KEYRING_FILE": str(path)})
    assert ring.source == "file" and len(ring.current_key) == 32


def test_never_rewritten_at_a_later_start_and_kept_private(tmp_path: Path) -> None:
    home = Home(tmp_path)
    path, _ = ensure_master_key_file(home)
    before = path.read_text()
    path.chmod(0o644)
    assert ensure_master_key_file(home) == (path, False)
    assert path.read_text() == before
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("value", "message"),
    [("%%%", "base64 of 32 random bytes"), (base64.b64encode(b"k" * 31).decode(), "exactly 32 bytes, got 31")],
)
def test_a_bad_env_key_stops_berth_up_with_a_clear_error(value: str, message: str) -> None:
    with pytest.raises(MasterKeyError, match=message):
        check_master_key(value)
    check_master_key(base64.b64encode(os.urandom(32)).decode())


@pytest.mark.integration
def test_only_the_api_is_told_where_the_key_is(infra: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BERTH_MASTER_KEY", raising=False)
    api = infra.service_env("api")
    assert api["BERTH_KEYRING_FILE"] == str(infra.home.master_key_file)
    assert infra.home.master_key_file.exists()
    assert stat.S_IMODE(infra.home.master_key_file.stat().st_mode) == 0o600
    assert api["BERTH_MASTER_KEY"] == ""
    for service in ("router", "runtime-agent", "logs", "health"):
        env = infra.service_env(service)
        # Children inherit the launcher's environment: blank values override anything inherited.
        assert env["BERTH_KEYRING_FILE"] == "" and env["BERTH_MASTER_KEY"] == ""


@pytest.mark.integration
def test_an_env_master_key_goes_to_the_api_only(infra: Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("BERTH_MASTER_KEY", key)
    assert infra.service_env("api")["BERTH_MASTER_KEY"] == key
    assert infra.service_env("api")["BERTH_KEYRING_FILE"] == ""
    for service in ("router", "runtime-agent", "logs", "health"):
        assert infra.service_env(service)["BERTH_MASTER_KEY"] == ""
