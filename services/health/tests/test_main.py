"""``python -m berth_health`` as `berth up` runs it: starts with its own credentials, stops cleanly on SIGTERM."""

from __future__ import annotations

import pytest
from berth_cli.launcher.platform import Platform
from berth_testing import assert_service_starts_and_stops_on_sigterm

pytestmark = pytest.mark.integration


async def test_the_process_starts_and_stops_cleanly_on_sigterm(infra: Platform) -> None:
    await assert_service_starts_and_stops_on_sigterm(infra.service_env("health"), "berth_health", "health")
