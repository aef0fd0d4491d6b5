"""Running the drain rules: without iptables, or when it refuses, the agent warns once and every
drain falls back to waiting for the proxy's health check."""

from __future__ import annotations

import logging

import pytest
from berth_agent.drain.decide import DrainRule
from berth_agent.drain.run import Firewall

RULE = DrainRule(instance="prod", app_id="app1", slot="a", address="10.90.0.2", port=8080)


async def test_missing_iptables_warns_once_and_drains_fall_back(caplog: pytest.LogCaptureFixture) -> None:
    firewall = Firewall("prod", binary="/nonexistent/iptables")
    with caplog.at_level(logging.WARNING, logger="berth.agent.firewall"):
        assert not firewall.available
        assert await firewall.block(RULE) is False
        assert await firewall.block(RULE) is False
        await firewall.end_drain("app1", "a")
        await firewall.sweep_app("app1")
        assert await firewall.stale_apps() == frozenset()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "iptables not found" in warnings[0].getMessage()


async def test_a_refusing_iptables_warns_once_and_drains_fall_back(
    tmp_path: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture
) -> None:
    fake = tmp_path / "iptables"  # type: ignore[operator]
    fake.write_text("#!/bin/sh\necho 'Permission denied (you must be root)' >&2\nexit 4\n")
    fake.chmod(0o755)
    firewall = Firewall("prod", binary=str(fake))
    with caplog.at_level(logging.WARNING, logger="berth.agent.firewall"):
        assert firewall.available
        assert await firewall.block(RULE) is False
        assert await firewall.block(RULE) is False
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Permission denied" in warnings[0].getMessage()
