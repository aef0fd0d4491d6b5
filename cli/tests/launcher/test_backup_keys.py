"""Which master key seals a backup and which keys open one (the launcher reads the API's key
sources without importing the API; the ids must be the ones `berth secrets status` shows)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from berth_api import keyring
from berth_cli.launcher import backup_keys as bk
from berth_cli.launcher.home import Home, ensure_master_key_file


def test_an_env_key_has_the_id_the_api_gives_it() -> None:
    raw = base64.b64encode(os.urandom(32)).decode()
    keys = bk.load({"BERTH_MASTER_KEY": raw}, Path("/nonexistent"))
    assert keys.source == "env"
    assert keys.current == keyring.from_env_key(raw).current


def test_the_keyring_file_berth_up_makes_is_read_as_the_api_reads_it(tmp_path: Path) -> None:
    path, _ = ensure_master_key_file(Home(tmp_path))
    keys = bk.load({}, path)
    ring = keyring.read_file(path)
    assert keys.current == ring.current and dict(keys.usable) == ring.by_id()


def test_retired_keys_do_not_open_and_say_why() -> None:
    def key(kid: str, retired: str | None) -> dict[str, object]:
        return {"id": kid, "key": base64.b64encode(os.urandom(32)).decode(), "retiredAt": retired}

    text = json.dumps(
        {
            "format": "berth-keyring-v1",
            "current": "k-new",
            "keys": [key("k-old", "2025-01-01T00:00:00Z"), key("k-new", None)],
        }
    )
    keys = bk.parse_keyring(text, "master.key")
    assert len(keys.key_for("k-new")) == 32
    with pytest.raises(bk.BackupKeyError, match="retired"):
        keys.key_for("k-old")
    with pytest.raises(bk.BackupKeyError, match=r"'k-other'.*does not hold.*k-new"):
        keys.key_for("k-other")


def test_no_key_anywhere_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(bk.BackupKeyError, match=r"BERTH_MASTER_KEY is not set and .*master\.key does not exist"):
        bk.load({}, tmp_path / "master.key")


@pytest.mark.parametrize("raw", ["not base64!", base64.b64encode(b"short").decode()])
def test_a_malformed_env_key_is_refused(raw: str) -> None:
    with pytest.raises(bk.BackupKeyError, match="BERTH_MASTER_KEY"):
        bk.from_env_value(raw)
