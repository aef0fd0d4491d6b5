"""The master keys as the launcher sees them, to seal and open platform backups.

The same two sources the API reads (``berth_api.keyring``; the launcher never imports the API):
``BERTH_MASTER_KEY`` (base64 of 32 bytes; its id is ``env-`` + 8 hex digits of a SHA-256 of it,
as the API names it) or the keyring file ``$BERTH_HOME/master.key`` (``berth-keyring-v1``).
A backup is sealed under the current key; only a key that is not retired opens one, because a
restored database's env values are sealed under the keys of its time and the API decrypts with
unretired keys only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from berth_cli.launcher.home import KEYRING_FORMAT

KEY_BYTES = 32


class BackupKeyError(Exception):
    """No usable master key; the message says which one is needed and where it is looked for."""


@dataclass(frozen=True)
class MasterKeys:
    current: str
    usable: Mapping[str, bytes] = field(repr=False)  # not retired: these open a backup
    retired: frozenset[str] = frozenset()
    source: str = "file"  # "env" or "file"

    def key_for(self, key_id: str) -> bytes:
        if key_id in self.usable:
            return self.usable[key_id]
        if key_id in self.retired:
            raise BackupKeyError(
                f"the backup is sealed with master key {key_id!r}, which this keyring has retired since "
                "(its env values would not open either): restore with the keyring file of the backup's time"
            )
        where = "BERTH_MASTER_KEY" if self.source == "env" else "the keyring file"
        raise BackupKeyError(
            f"the backup is sealed with master key {key_id!r}, which {where} does not hold "
            f"(it holds {', '.join(sorted(self.usable)) or 'no usable key'}): give the master key of the "
            "platform that made the backup (BERTH_MASTER_KEY, or its master.key with --keyring)"
        )


def env_key_id(key: bytes) -> str:
    return "env-" + hashlib.sha256(b"berth-key-id\x00" + key).hexdigest()[:8]


def decode_key(raw: str, what: str) -> bytes:
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise BackupKeyError(f"{what} is not base64") from None
    if len(key) != KEY_BYTES:
        raise BackupKeyError(f"{what} must decode to {KEY_BYTES} bytes, got {len(key)}")
    return key


def from_env_value(raw: str) -> MasterKeys:
    key = decode_key(raw, "BERTH_MASTER_KEY")
    kid = env_key_id(key)
    return MasterKeys(current=kid, usable={kid: key}, source="env")


def parse_keyring(text: str, where: str) -> MasterKeys:
    try:
        data = json.loads(text)
        if data.get("format") != KEYRING_FORMAT:
            raise BackupKeyError(f"{where}: not a {KEYRING_FORMAT} file")
        usable: dict[str, bytes] = {}
        retired: set[str] = set()
        for k in data["keys"]:
            kid = str(k["id"])
            if k.get("retiredAt"):
                retired.add(kid)
            else:
                usable[kid] = decode_key(str(k["key"]), f"{where}: key {kid!r}")
        current = str(data["current"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BackupKeyError(f"{where}: malformed keyring file ({type(exc).__name__})") from None
    if current not in usable:
        raise BackupKeyError(f"{where}: current key {current!r} is missing or retired")
    return MasterKeys(current=current, usable=usable, retired=frozenset(retired), source="file")


def load(env: Mapping[str, str], keyring_file: Path) -> MasterKeys:
    """``BERTH_MASTER_KEY`` when set (as `berth up` uses it), else ``keyring_file``."""
    if env.get("BERTH_MASTER_KEY"):
        return from_env_value(env["BERTH_MASTER_KEY"])
    try:
        text = keyring_file.read_text()
    except FileNotFoundError:
        raise BackupKeyError(
            f"no master key: BERTH_MASTER_KEY is not set and {keyring_file} does not exist "
            "(copy the old host's master.key there, or pass it with --keyring)"
        ) from None
    return parse_keyring(text, str(keyring_file))
