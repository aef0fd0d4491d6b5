"""An environment sealed to the agent opens only with its key, for the same app and release."""

from __future__ import annotations

import base64

import pytest
from berth_shared.sealing import OpeningKey, SealingError, open_env, seal_env

ENV = {"API_KEY": "canary-0123456789", "EMPTY": "", "UNICODE": "é✓"}


def test_round_trip() -> None:
    key = OpeningKey.generate()
    sealed = seal_env(ENV, key.public, "app-1", "rel-1")
    assert open_env(sealed, key, "app-1", "rel-1") == ENV


def test_the_sealed_form_holds_no_value_in_clear() -> None:
    key = OpeningKey.generate()
    sealed = seal_env(ENV, key.public, "app-1", "rel-1")
    assert b"canary" not in base64.b64decode(sealed) and "canary" not in sealed
    assert sealed != seal_env(ENV, key.public, "app-1", "rel-1")  # fresh ephemeral key and nonce


def test_another_key_does_not_open_it() -> None:
    sealed = seal_env(ENV, OpeningKey.generate().public, "app-1", "rel-1")
    with pytest.raises(SealingError, match="does not open") as caught:
        open_env(sealed, OpeningKey.generate(), "app-1", "rel-1")
    assert "canary" not in str(caught.value)


@pytest.mark.parametrize(("app_id", "release_id"), [("app-2", "rel-1"), ("app-1", "rel-2"), ("app-1rel", "-1")])
def test_another_app_or_release_does_not_open_it(app_id: str, release_id: str) -> None:
    key = OpeningKey.generate()
    sealed = seal_env(ENV, key.public, "app-1", "rel-1")
    with pytest.raises(SealingError):
        open_env(sealed, key, app_id, release_id)


def test_a_tampered_ciphertext_does_not_open() -> None:
    key = OpeningKey.generate()
    blob = bytearray(base64.b64decode(seal_env(ENV, key.public, "app-1", "rel-1")))
    blob[-1] ^= 1
    with pytest.raises(SealingError):
        open_env(base64.b64encode(bytes(blob)).decode(), key, "app-1", "rel-1")


@pytest.mark.parametrize("garbage", ["", "not base64!", base64.b64encode(b"s1short").decode()])
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(SealingError):
        open_env(garbage, OpeningKey.generate(), "app-1", "rel-1")


@pytest.mark.parametrize("public", ["", "%%%", base64.b64encode(b"short").decode()])
def test_a_bad_public_key_is_refused(public: str) -> None:
    with pytest.raises(SealingError, match="public key"):
        seal_env(ENV, public, "app-1", "rel-1")
