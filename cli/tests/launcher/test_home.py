"""Credential files: written atomically (temp file, fsync, rename, fsync of the directory),
readable by their owner only from the moment they exist."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from berth_cli.launcher import home as home_module
from berth_cli.launcher.home import Home, load_or_create_admin_token, load_or_create_credentials, write_private


def test_a_credential_file_is_never_seen_half_written_or_open_to_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "credentials.json"
    target.write_text('{"old": true}')
    target.chmod(0o600)
    seen: list[tuple[str, int, str]] = []
    real_fsync = os.fsync

    def watching_fsync(fd: int) -> None:
        # At every fsync the file under its real name is still the old one, whole, and every
        # file in the directory is private.
        for entry in tmp_path.iterdir():
            seen.append((entry.name, stat.S_IMODE(entry.stat().st_mode), target.read_text()))
        real_fsync(fd)

    monkeypatch.setattr(home_module.os, "fsync", watching_fsync)
    write_private(target, '{"new": true}')
    assert seen, "write_private must fsync"
    assert all(text == '{"old": true}' for name, _, text in seen if name.endswith(".tmp"))
    assert all(mode == 0o600 for _, mode, _ in seen)
    assert target.read_text() == '{"new": true}' and stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["credentials.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "admin-token"
    target.write_text("berth_old\n")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(home_module.os, "fsync", disk_full)
    with pytest.raises(OSError):
        write_private(target, "berth_new\n")
    assert target.read_text() == "berth_old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["admin-token"]


def test_a_wider_file_left_by_an_earlier_version_becomes_private(tmp_path: Path) -> None:
    home = Home(tmp_path)
    home.credentials_file.write_text(json.dumps({"instance": "abcd1234"}))
    home.credentials_file.chmod(0o644)
    creds = load_or_create_credentials(home)
    assert creds.instance == "abcd1234" and creds.proxy_secret
    assert stat.S_IMODE(home.credentials_file.stat().st_mode) == 0o600
    token, created = load_or_create_admin_token(home, None)
    assert created and token.startswith("berth_")
    assert stat.S_IMODE(home.admin_token_file.stat().st_mode) == 0o600
