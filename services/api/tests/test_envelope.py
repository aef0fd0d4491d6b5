"""The crypto envelope: AES-256-GCM bound to app, variable and key id (pure)."""

from __future__ import annotations

import os

import pytest
from berth_api import envelope
from berth_api.envelope import EnvelopeError

APP = "0b8f3a52-7f4e-4d47-9a55-2f3d8f1c9e01"
OTHER_APP = "5d2c1e7a-1111-4222-8333-944455556666"
KEY = os.urandom(32)
KEYS = {"k-1": KEY}


def sealed(value: str = "s3cret-value", key_id: str = "k-1", key: bytes = KEY, name: str = "API_KEY") -> bytes:
    return envelope.seal(value, key_id, key, APP, name)


def test_round_trip() -> None:
    for value in ("s3cret", "", "ünïcødé ✓", "x" * 32768, "line1\nline2=with equals"):
        assert envelope.open(sealed(value), KEYS, APP, "API_KEY") == value


def test_layout_is_versioned_with_the_key_id_and_no_plaintext() -> None:
    blob = sealed("s3cret-value")
    assert blob[:2] == b"v1"
    assert blob[2] == len(b"k-1") and blob[3:6] == b"k-1"
    assert envelope.key_id_of(blob) == "k-1"
    assert b"s3cret" not in blob
    # 2 version + 1 length + 3 id + 12 nonce + len(value) + 16 tag
    assert len(blob) == 2 + 1 + 3 + 12 + len("s3cret-value") + 16


def test_a_fresh_nonce_per_seal() -> None:
    a, b = sealed("same"), sealed("same")
    assert a != b
    assert a[6:18] != b[6:18]


def test_another_app_in_the_additional_data_fails() -> None:
    with pytest.raises(EnvelopeError, match="authentication failed"):
        envelope.open(sealed(), KEYS, OTHER_APP, "API_KEY")


def test_another_variable_name_in_the_additional_data_fails() -> None:
    with pytest.raises(EnvelopeError, match="authentication failed"):
        envelope.open(sealed(name="API_KEY"), KEYS, APP, "OTHER_KEY")


def test_wrong_key_under_the_same_id_fails() -> None:
    with pytest.raises(EnvelopeError, match="authentication failed under key 'k-1'"):
        envelope.open(sealed(), {"k-1": os.urandom(32)}, APP, "API_KEY")


def test_unknown_key_id_is_named() -> None:
    with pytest.raises(EnvelopeError, match="sealed with key 'k-1', which is not in the keyring"):
        envelope.open(sealed(), {"k-2": KEY}, APP, "API_KEY")


@pytest.mark.parametrize("index", [6, 10, 18, -1, -16])
def test_any_flipped_byte_of_nonce_ciphertext_or_tag_fails(index: int) -> None:
    blob = bytearray(sealed())
    blob[index] ^= 0x01
    with pytest.raises(EnvelopeError):
        envelope.open(bytes(blob), KEYS, APP, "API_KEY")


def test_relabelling_the_key_id_fails_even_when_the_key_matches() -> None:
    """The key id is part of the additional data: an attacker cannot move a blob to another id."""
    blob = sealed()
    relabelled = b"v1" + bytes([3]) + b"k-2" + blob[6:]
    with pytest.raises(EnvelopeError, match="authentication failed under key 'k-2'"):
        envelope.open(relabelled, {"k-1": KEY, "k-2": KEY}, APP, "API_KEY")


@pytest.mark.parametrize(
    "blob", [b"", b"v2xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", b"v1\x05k-1", b"v1\x03k-1" + b"\0" * 10]
)
def test_malformed_envelopes_are_refused(blob: bytes) -> None:
    with pytest.raises(EnvelopeError):
        envelope.open(blob, KEYS, APP, "API_KEY")


def test_rotation_re_seals_under_the_new_key_while_the_old_still_opens() -> None:
    old = sealed("rotate-me", key_id="k-1", key=KEY)
    new_key = os.urandom(32)
    ring = {"k-1": KEY, "k-2": new_key}
    plain = envelope.open(old, ring, APP, "API_KEY")
    new = envelope.seal(plain, "k-2", new_key, APP, "API_KEY")
    assert envelope.key_id_of(new) == "k-2"
    assert envelope.open(new, ring, APP, "API_KEY") == "rotate-me"
    assert envelope.open(old, ring, APP, "API_KEY") == "rotate-me"  # old still opens until retired
    with pytest.raises(EnvelopeError, match="not in the keyring"):  # once k-1 is retired
        envelope.open(old, {"k-2": new_key}, APP, "API_KEY")
    assert envelope.open(new, {"k-2": new_key}, APP, "API_KEY") == "rotate-me"


def test_errors_never_carry_the_plaintext() -> None:
    blob = bytearray(sealed("TOP-SECRET-123"))
    blob[-1] ^= 1
    with pytest.raises(EnvelopeError) as info:
        envelope.open(bytes(blob), KEYS, APP, "API_KEY")
    assert "TOP-SECRET" not in str(info.value)


def test_seal_refuses_bad_keys_and_key_ids() -> None:
    with pytest.raises(EnvelopeError, match="32 bytes"):
        envelope.seal("x", "k-1", b"short", APP, "A")
    with pytest.raises(EnvelopeError, match="key id"):
        envelope.seal("x", "bad id!", KEY, APP, "A")
