"""Build uploads are bounded: past the limit the API answers 413 and keeps nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from berth_api.builds import ContextTooLarge, image_tag, spool
from berth_shared.errors import ValidationFailed


async def chunks(*sizes: int) -> AsyncIterator[bytes]:
    for size in sizes:
        yield b"x" * size


async def test_within_the_limit_is_spooled_whole() -> None:
    spooled, size = await spool(chunks(10, 20), limit=30)
    with spooled:
        assert size == 30 and spooled.read() == b"x" * 30


async def test_past_the_limit_is_refused_with_413() -> None:
    with pytest.raises(ContextTooLarge) as err:
        await spool(chunks(20, 20), limit=30)
    assert err.value.http_status == 413 and ".dockerignore" in err.value.message


async def test_an_empty_upload_is_a_validation_error() -> None:
    with pytest.raises(ValidationFailed):
        await spool(chunks(), limit=30)


def test_built_images_are_tagged_with_app_and_release() -> None:
    assert image_tag("web", "4cf4bd73-53de-4ae6", 7) == "berth-build/web-4cf4bd73:v7"
