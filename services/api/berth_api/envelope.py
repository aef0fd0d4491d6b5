"""The crypto envelope for environment values: AES-256-GCM, pure (no I/O).

One sealed value is ``b"v1" | len(key_id) (1 byte) | key_id (ASCII) | nonce (12) | ciphertext+tag``.

* a fresh random 96-bit nonce per seal;
* the additional data binds the ciphertext to its app, its variable name and its key id, so a
  ciphertext copied to another app or another variable (or relabelled with another key id)
  does not open;
* the key id travels in the clear inside the blob, so any holder of the keyring knows which
  key opens it, and keys can rotate.

Errors never contain plaintext; :class:`EnvelopeError` messages name only the problem.
"""

from __future__ import annotations

import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = b"v1"
NONCE_BYTES = 12
KEY_BYTES = 32
TAG_BYTES = 16
KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_AAD_PREFIX = b"berth-env-v1"


class EnvelopeError(Exception):
    """A sealed value that cannot be opened: malformed, unknown key, or failed authentication."""


def check_key_id(key_id: str) -> str:
    if not KEY_ID.match(key_id):
        raise EnvelopeError(f"key id {key_id!r} must be 1-64 letters, digits, '.', '_' or '-'")
    return key_id


def additional_data(app_id: str, name: str, key_id: str) -> bytes:
    """Length-prefixed app id, variable name and key id: unambiguous for any strings."""
    parts = [_AAD_PREFIX, app_id.encode(), name.encode(), key_id.encode()]
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def key_id_of(sealed: bytes) -> str:
    """The key id a sealed value names, without opening it."""
    return _parse(sealed)[0]


def _parse(sealed: bytes) -> tuple[str, bytes, bytes]:
    if len(sealed) < len(VERSION) + 1 or sealed[: len(VERSION)] != VERSION:
        raise EnvelopeError("not a v1 envelope")
    n = sealed[len(VERSION)]
    start = len(VERSION) + 1
    raw_id = sealed[start : start + n]
    rest = sealed[start + n :]
    if len(raw_id) != n or len(rest) < NONCE_BYTES + TAG_BYTES:
        raise EnvelopeError("truncated envelope")
    try:
        key_id = check_key_id(raw_id.decode("ascii"))
    except UnicodeDecodeError:
        raise EnvelopeError("malformed key id in envelope") from None
    return key_id, rest[:NONCE_BYTES], rest[NONCE_BYTES:]


def seal(plaintext: str, key_id: str, key: bytes, app_id: str, name: str) -> bytes:
    if len(key) != KEY_BYTES:
        raise EnvelopeError(f"key {key_id!r} must be {KEY_BYTES} bytes")
    check_key_id(key_id)
    nonce = os.urandom(NONCE_BYTES)
    body = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), additional_data(app_id, name, key_id))
    raw_id = key_id.encode("ascii")
    return VERSION + bytes([len(raw_id)]) + raw_id + nonce + body


def open_(sealed: bytes, keys: dict[str, bytes], app_id: str, name: str) -> str:
    """Open ``sealed`` with the key it names from ``keys`` (key id -> 32-byte key)."""
    key_id, nonce, body = _parse(sealed)
    key = keys.get(key_id)
    if key is None:
        raise EnvelopeError(f"sealed with key {key_id!r}, which is not in the keyring")
    try:
        plain = AESGCM(key).decrypt(nonce, body, additional_data(app_id, name, key_id))
    except InvalidTag:
        raise EnvelopeError(
            f"authentication failed under key {key_id!r} (tampered, wrong key, or belongs to another app or variable)"
        ) from None
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError:
        raise EnvelopeError("decrypted value is not UTF-8") from None


# ``open`` reads naturally at call sites (``envelope.open(...)``) but shadows the builtin here.
open = open_
