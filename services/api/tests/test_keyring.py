"""Master key sources and the keyring file (pure apart from tmp files)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from berth_api import keyring
from berth_api.keyring import KeyringError


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_env_key_with_a_derived_stable_id() -> None:
    raw = os.urandom(32)
    ring = keyring.load({"BERTH_MASTER_KEY": b64(raw)})
    assert ring.source == "env" and ring.current_key == raw
    assert ring.current.startswith("env-") and ring.current == keyring.load({"BERTH_MASTER_KEY": b64(raw)}).current
    assert ring.current != keyring.load({"BERTH_MASTER_KEY": b64(os.urandom(32))}).current


@pytest.mark.parametrize(
    ("value", "message"),
    [("not base64!!", "base64 of 32 random bytes"), (b64(b"x" * 16), "exactly 32 bytes, got 16")],
)
def test_bad_env_key_is_refused_clearly(value: str, message: str) -> None:
    with pytest.raises(KeyringError, match=message) as info:
        keyring.load({"BERTH_MASTER_KEY": value})
    assert value not in str(info.value)


def test_env_key_wins_over_the_file(tmp_path: Path) -> None:
    ring = keyring.load({"BERTH_MASTER_KEY": b64(os.urandom(32)), "BERTH_KEYRING_FILE": str(tmp_path / "none")})
    assert ring.source == "env"


def test_no_key_at_all_says_how_to_fix_it() -> None:
    with pytest.raises(KeyringError, match="BERTH_MASTER_KEY"):
        keyring.load({})


def test_rotation_steps_in_the_file(tmp_path: Path) -> None:
    ring = keyring.new_file_keyring(tmp_path / "master.key")
    keyring.write_file(ring)
    first = ring.current
    rotated = keyring.with_new_current(ring)
    keyring.write_file(rotated)
    assert stat.S_IMODE((tmp_path / "master.key").stat().st_mode) == 0o600
    reread = keyring.read_file(tmp_path / "master.key")
    assert reread.current != first and reread.pending_old() == [first]
    assert set(reread.by_id()) == {first, reread.current}  # the old key still decrypts
    retired = keyring.with_retired(reread, [first])
    keyring.write_file(retired)
    final = keyring.read_file(tmp_path / "master.key")
    assert final.pending_old() == [] and set(final.by_id()) == {final.current}
    assert [k["id"] for k in final.describe()] == [first, final.current]  # kept, but retired
    assert "key" not in final.describe()[0]


def test_malformed_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    path.write_text("{not json")
    with pytest.raises(KeyringError, match="malformed"):
        keyring.read_file(path)
    path.write_text(json.dumps({"format": "berth-keyring-v1", "current": "k-x", "keys": []}))
    with pytest.raises(KeyringError, match="current key 'k-x' is missing"):
        keyring.read_file(path)
    with pytest.raises(KeyringError, match="does not exist"):
        keyring.read_file(tmp_path / "absent")
