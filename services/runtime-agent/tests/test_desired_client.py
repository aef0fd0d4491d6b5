"""The agent opens the environments sealed to its own key, and trusts nothing in clear."""

from __future__ import annotations

import pytest
from berth_agent.desired_client import opened
from berth_shared.contracts.desired import DesiredApp, DesiredRelease
from berth_shared.errors import BusUnavailable
from berth_shared.sealing import OpeningKey, seal_env

KEY = OpeningKey.generate()


def app(release: DesiredRelease | None) -> DesiredApp:
    return DesiredApp(app_id="a1", name="web", hostname="web.x", port=8080, subnet="10.0.0.0/28", release=release)


def test_the_sealed_env_is_opened_into_env() -> None:
    sealed = seal_env({"K": "v"}, KEY.public, "a1", "r1")
    got = opened(app(DesiredRelease(release_id="r1", image="i", sealed_env=sealed)), KEY)
    assert got.release is not None and got.release.env == {"K": "v"} and got.release.sealed_env is None


def test_values_in_clear_are_ignored() -> None:
    got = opened(app(DesiredRelease(release_id="r1", image="i", env={"K": "from-anyone"})), KEY)
    assert got.release is not None and got.release.env == {}


def test_an_env_sealed_for_another_release_or_key_is_refused_without_values() -> None:
    for sealed in (
        seal_env({"K": "v"}, KEY.public, "a1", "r0"),
        seal_env({"K": "v"}, OpeningKey.generate().public, "a1", "r1"),
    ):
        with pytest.raises(BusUnavailable, match="does not open"):
            opened(app(DesiredRelease(release_id="r1", image="i", sealed_env=sealed)), KEY)


def test_an_app_without_a_release_is_unchanged() -> None:
    assert opened(app(None), KEY) == app(None)
