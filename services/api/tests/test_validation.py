"""Request validation: what a user sees for bad input."""

from __future__ import annotations

import pytest
from berth_api.validation import CreateApp, Deploy
from pydantic import ValidationError


@pytest.mark.parametrize("name", ["a", "hello", "my-app-2", "0abc", "a" * 40])
def test_valid_app_names(name: str) -> None:
    assert CreateApp(name=name).name == name


@pytest.mark.parametrize("name", ["", "A", "has_underscore", "-lead", "trail-", "a" * 41, "dots.are.bad", "spa ce"])
def test_invalid_app_names_are_refused(name: str) -> None:
    with pytest.raises(ValidationError) as err:
        CreateApp(name=name)
    assert err.value.errors()[0]["loc"] == ("name",)


def test_defaults_for_port_and_resources() -> None:
    app = CreateApp(name="x")
    assert app.port == 8080
    assert app.resources.memory_mb == 256
    assert app.resources.cpus == 0.5


def test_resources_use_the_users_field_names() -> None:
    app = CreateApp.model_validate({"name": "x", "resources": {"memoryMb": 512, "cpus": 1}})
    assert app.resources.memory_mb == 512


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_port_out_of_range(port: int) -> None:
    with pytest.raises(ValidationError):
        CreateApp(name="x", port=port)


def test_unknown_fields_are_refused_not_ignored() -> None:
    with pytest.raises(ValidationError) as err:
        CreateApp.model_validate({"name": "x", "prot": 80})
    assert err.value.errors()[0]["loc"] == ("prot",)


@pytest.mark.parametrize("image", ["nginx", "nginx:1.27", "ghcr.io/me/app:v1", "localhost:5000/a/b@sha256:abc"])
def test_image_references(image: str) -> None:
    assert Deploy(image=image).image == image


@pytest.mark.parametrize("image", ["", " ", "has space", "$(rm -rf)", "x" * 300])
def test_bad_image_references(image: str) -> None:
    with pytest.raises(ValidationError):
        Deploy(image=image)
