"""End-to-end fixtures: the whole platform, run by `berth up` exactly as a user runs it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from berth_testing import RunningPlatform, start_platform, stop_platform


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory, test_images: dict[str, str]) -> Iterator[RunningPlatform]:
    p = start_platform(tmp_path_factory.mktemp("berth-home"))
    try:
        yield p
    finally:
        stop_platform(p)
