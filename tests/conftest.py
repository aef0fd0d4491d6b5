"""End-to-end fixtures: the whole platform, run by `berth up` exactly as a user runs it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from berth_testing import RunningPlatform, start_platform, stop_platform
from python_app import pyapp_images  # the realistic Python test app's images (tests/support/python_app.py)

__all__ = ["pyapp_images"]


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory, test_images: dict[str, str]) -> Iterator[RunningPlatform]:
    # Webhook tests post to receivers on 127.0.0.1, which the default policy refuses
    # (tests/e2e/test_webhook_targets.py checks that on a platform of its own).
    p = start_platform(tmp_path_factory.mktemp("berth-home"), BERTH_ALLOW_PRIVATE_WEBHOOKS="true")
    try:
        yield p
    finally:
        stop_platform(p)
