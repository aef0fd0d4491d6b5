"""The master keys that seal environment values.

Two sources, checked in this order:

* ``BERTH_MASTER_KEY``: base64 of 32 random bytes, managed by whoever sets the environment.
  Its key id is derived from the key (``env-`` + 8 hex digits of a SHA-256 of it), so a
  changed variable shows up as "sealed with key env-..., which is not in the keyring".
  Berth cannot rotate such a key (it cannot change the environment): rotation answers 409.
* ``BERTH_KEYRING_FILE`` (``berth up`` passes ``$BERTH_HOME/master.key``, created at first
  start with mode 0600): a JSON keyring with a current key id and older keys that still
  decrypt; Berth rotates it.

File format (also written by the launcher)::

    {"format": "berth-keyring-v1", "current": "k-1a2b3c4d",
     "keys": [{"id": "k-1a2b3c4d", "key": "<base64 of 32 bytes>", "createdAt": "...",
               "retiredAt": null}]}

A retired key stays in the file (so a restored database backup can still be recovered by
hand) but is never used to decrypt.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from berth_api.envelope import KEY_BYTES, EnvelopeError, check_key_id

FORMAT = "berth-keyring-v1"


class KeyringError(Exception):
    """The master key configuration is unusable; the message says how to fix it."""


@dataclass(frozen=True)
class Key:
    id: str
    material: bytes = field(repr=False)
    created_at: str = ""
    retired_at: str | None = None


@dataclass(frozen=True)
class Keyring:
    current: str
    keys: tuple[Key, ...]
    source: str  # "env" or "file"
    path: Path | None = None

    @property
    def current_key(self) -> bytes:
        return self.by_id()[self.current]

    def by_id(self) -> dict[str, bytes]:
        """Keys that decrypt: every key that is not retired."""
        return {k.id: k.material for k in self.keys if k.retired_at is None}

    def pending_old(self) -> list[str]:
        """Key ids neither current nor retired: a rotation away from them is unfinished."""
        return [k.id for k in self.keys if k.id != self.current and k.retired_at is None]

    def describe(self) -> list[dict[str, object]]:
        return [
            {"id": k.id, "current": k.id == self.current, "createdAt": k.created_at or None, "retiredAt": k.retired_at}
            for k in self.keys
        ]


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def decode_key(raw: str, what: str) -> bytes:
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(
            f"{what} must be base64 of {KEY_BYTES} random bytes (e.g. `openssl rand -base64 32`)"
        ) from None
    if len(key) != KEY_BYTES:
        raise KeyringError(
            f"{what} must decode to exactly {KEY_BYTES} bytes, got {len(key)} (e.g. `openssl rand -base64 32`)"
        )
    return key


def env_key_id(key: bytes) -> str:
    return "env-" + hashlib.sha256(b"berth-key-id\x00" + key).hexdigest()[:8]


def new_key_id() -> str:
    return "k-" + secrets.token_hex(4)


def from_env_key(raw: str) -> Keyring:
    key = decode_key(raw, "BERTH_MASTER_KEY")
    kid = env_key_id(key)
    return Keyring(current=kid, keys=(Key(kid, key),), source="env")


def new_file_keyring(path: Path) -> Keyring:
    kid = new_key_id()
    return Keyring(current=kid, keys=(Key(kid, secrets.token_bytes(KEY_BYTES), _now()),), source="file", path=path)


def parse_file(text: str, path: Path) -> Keyring:
    try:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise KeyringError(f"{path}: not a {FORMAT} file")
        keys = tuple(
            Key(
                check_key_id(str(k["id"])),
                decode_key(str(k["key"]), f"{path}: key {k['id']!r}"),
                str(k.get("createdAt") or ""),
                k.get("retiredAt"),
            )
            for k in data["keys"]
        )
        current = str(data["current"])
    except (ValueError, KeyError, TypeError, AttributeError, EnvelopeError) as exc:
        if isinstance(exc, KeyringError):
            raise
        raise KeyringError(f"{path}: malformed keyring file ({type(exc).__name__}: {exc})") from None
    ids = [k.id for k in keys]
    if len(set(ids)) != len(ids):
        raise KeyringError(f"{path}: duplicate key ids")
    ring = Keyring(current=current, keys=keys, source="file", path=path)
    if current not in ring.by_id():
        raise KeyringError(f"{path}: current key {current!r} is missing or retired")
    return ring


def render_file(ring: Keyring) -> str:
    return json.dumps(
        {
            "format": FORMAT,
            "current": ring.current,
            "keys": [
                {
                    "id": k.id,
                    "key": base64.b64encode(k.material).decode(),
                    "createdAt": k.created_at,
                    "retiredAt": k.retired_at,
                }
                for k in ring.keys
            ],
        },
        indent=2,
    )


def write_file(ring: Keyring) -> None:
    """Atomically replace the keyring file (0600, fsynced, renamed into place)."""
    assert ring.path is not None
    tmp = ring.path.with_name(ring.path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(render_file(ring) + "\n")
        f.flush()
        os.fsync(f.fileno())
    tmp.chmod(0o600)
    os.replace(tmp, ring.path)
    dir_fd = os.open(ring.path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_file(path: Path) -> Keyring:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise KeyringError(f"keyring file {path} does not exist (`berth up` creates it at first start)") from None
    return parse_file(text, path)


def load(env: Mapping[str, str] | None = None) -> Keyring:
    """The keyring for this API process, from BERTH_MASTER_KEY or BERTH_KEYRING_FILE."""
    env = os.environ if env is None else env
    if env.get("BERTH_MASTER_KEY"):
        return from_env_key(env["BERTH_MASTER_KEY"])
    if env.get("BERTH_KEYRING_FILE"):
        return read_file(Path(env["BERTH_KEYRING_FILE"]))
    raise KeyringError(
        "no master key: set BERTH_MASTER_KEY (base64 of 32 bytes) or BERTH_KEYRING_FILE "
        "(`berth up` creates $BERTH_HOME/master.key and passes it)"
    )


def with_new_current(ring: Keyring) -> Keyring:
    kid = new_key_id()
    return replace(ring, current=kid, keys=(*ring.keys, Key(kid, secrets.token_bytes(KEY_BYTES), _now())))


def with_retired(ring: Keyring, key_ids: list[str]) -> Keyring:
    now = _now()
    keys = tuple(replace(k, retired_at=now) if k.id in key_ids and k.id != ring.current else k for k in ring.keys)
    return replace(ring, keys=keys)


class Keychain:
    """The API process's live keyring, swapped as a whole when a rotation advances.
    Readers take ``ring`` once per operation and use that snapshot."""

    def __init__(self, ring: Keyring) -> None:
        self.ring = ring
