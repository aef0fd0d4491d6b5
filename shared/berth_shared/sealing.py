"""Sealing an app's environment to the runtime agent, for its trip over the bus (pure, no I/O).

The agent makes an X25519 key pair when it starts (the private key never leaves its memory)
and sends the public key with every desired-state query. The API seals the app's decrypted
environment to that key; only the agent can open it, so no other bus identity — and nothing
that records bus traffic — ever sees a value.

A sealed environment is ``b"s1" | ephemeral public key (32) | nonce (12) | ciphertext+tag``,
base64 in the message. The key is HKDF-SHA256 over the X25519 shared secret (salt: both public
keys); the cipher is AES-256-GCM. The additional data binds it to the app and the release, so
a sealed environment replayed into another app's or release's description does not open.
Errors never contain plaintext.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

VERSION = b"s1"
PUBLIC_KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
_INFO = b"berth-sealed-env-v1"


class SealingError(Exception):
    """A sealed environment that cannot be opened, or a public key that is not one."""


@dataclass(frozen=True)
class OpeningKey:
    """The agent's key pair; :attr:`public` is what it sends with its queries."""

    private: X25519PrivateKey

    @classmethod
    def generate(cls) -> OpeningKey:
        return cls(X25519PrivateKey.generate())

    @property
    def public(self) -> str:
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return base64.b64encode(raw).decode()


def additional_data(app_id: str, release_id: str) -> bytes:
    """Length-prefixed purpose, app id and release id: unambiguous for any strings."""
    parts = [_INFO, app_id.encode(), release_id.encode()]
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def _public_key(text: str) -> X25519PublicKey:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SealingError("the public key is not base64") from None
    if len(raw) != PUBLIC_KEY_BYTES:
        raise SealingError(f"the public key must be {PUBLIC_KEY_BYTES} bytes")
    return X25519PublicKey.from_public_bytes(raw)


def check_public_key(text: str) -> None:
    """Raise :class:`SealingError` unless ``text`` is a base64 X25519 public key."""
    _public_key(text)


def _derive(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=_INFO).derive(shared)


def seal(plaintext: bytes, recipient_public: str, aad: bytes) -> str:
    """Seal ``plaintext`` to the holder of ``recipient_public`` (base64 X25519 public key)."""
    recipient = _public_key(recipient_public)
    ephemeral = X25519PrivateKey.generate()
    ephemeral_raw = ephemeral.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    recipient_raw = recipient.public_bytes(Encoding.Raw, PublicFormat.Raw)
    key = _derive(ephemeral.exchange(recipient), ephemeral_raw, recipient_raw)
    nonce = os.urandom(NONCE_BYTES)
    blob = VERSION + ephemeral_raw + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)
    return base64.b64encode(blob).decode()


def open_sealed(sealed: str, key: OpeningKey, aad: bytes) -> bytes:
    """Open what :func:`seal` made for ``key``; raises :class:`SealingError` otherwise."""
    try:
        blob = base64.b64decode(sealed, validate=True)
    except (binascii.Error, ValueError):
        raise SealingError("sealed data is not base64") from None
    header = len(VERSION) + PUBLIC_KEY_BYTES + NONCE_BYTES
    if blob[: len(VERSION)] != VERSION or len(blob) < header + TAG_BYTES:
        raise SealingError("not an s1 sealed message")
    ephemeral_raw = blob[len(VERSION) : len(VERSION) + PUBLIC_KEY_BYTES]
    nonce = blob[len(VERSION) + PUBLIC_KEY_BYTES : header]
    own_raw = key.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    shared = key.private.exchange(X25519PublicKey.from_public_bytes(ephemeral_raw))
    try:
        return AESGCM(_derive(shared, ephemeral_raw, own_raw)).decrypt(nonce, blob[header:], aad)
    except InvalidTag:
        raise SealingError("sealed data does not open with this key for this app and release") from None


def seal_env(env: dict[str, str], recipient_public: str, app_id: str, release_id: str) -> str:
    return seal(msgspec.json.encode(env), recipient_public, additional_data(app_id, release_id))


def open_env(sealed: str, key: OpeningKey, app_id: str, release_id: str) -> dict[str, str]:
    plaintext = open_sealed(sealed, key, additional_data(app_id, release_id))
    try:
        return msgspec.json.decode(plaintext, type=dict[str, str])
    except msgspec.DecodeError:
        raise SealingError("sealed environment is not a map of strings") from None
