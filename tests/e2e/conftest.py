"""The platform the resync tests share (test_resync, test_api_resync, test_domain_resync): one
of their own, with the observer identity and a short resync interval. Each test uses apps of
its own names, so none sees another's.

It is started by the first module that needs it and stopped at the end of the last one (not at
the end of the session), so it does not run beside the modules between them.

The dashboard tests' Chromium fixtures (``browser``, ``page``) come from ``dashboard_testing``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from berth_cli.launcher.platform import Platform
from dashboard_testing import browser, page  # noqa: F401 (fixtures of the dashboard tests)
from observed_platform import admin_client, observed_platform

# Short enough for a test to see the periodic pass (the default is a minute).
RESYNC_SECONDS = "3"

Running = tuple[Platform, contextlib.AbstractAsyncContextManager[Platform]]


def _used_after(request: pytest.FixtureRequest) -> bool:
    """Whether a test after this module's last one uses the shared platform."""
    items = request.session.items
    last = max(i for i, item in enumerate(items) if item.getparent(pytest.Module) is request.node)
    return any("resync_platform" in getattr(item, "fixturenames", ()) for item in items[last + 1 :])


@pytest.fixture(scope="session")
async def _resync_holder() -> AsyncIterator[dict[str, Running]]:
    """Holds the shared platform between modules; stops it if the session ends early (``-x``)."""
    holder: dict[str, Running] = {}
    try:
        yield holder
    finally:
        if "platform" in holder:
            await holder.pop("platform")[1].__aexit__(None, None, None)


@pytest.fixture(scope="module")
async def resync_platform(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, _resync_holder: dict[str, Running]
) -> AsyncIterator[Platform]:
    if "platform" not in _resync_holder:
        running = observed_platform(Path(tmp_path_factory.mktemp("berth-resync")), BERTH_RESYNC_SECONDS=RESYNC_SECONDS)
        _resync_holder["platform"] = (await running.__aenter__(), running)
    yield _resync_holder["platform"][0]
    if not _used_after(request):
        await _resync_holder.pop("platform")[1].__aexit__(None, None, None)


@pytest.fixture
async def resync_api(resync_platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(resync_platform) as client:
        yield client
