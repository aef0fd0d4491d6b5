"""The resync loop: a pass at once, then one every interval; a failed pass is retried sooner and
never ends the loop; it stops when told. Which held apps the owner's list makes stale."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest
from berth_shared.contracts.owner_state import AppFacts
from berth_shared.resync import periodically, stale_apps


async def test_resyncs_at_once_then_every_interval_until_stopped() -> None:
    stop = asyncio.Event()
    passes: list[float] = []
    loop = asyncio.get_running_loop()

    async def resync() -> None:
        passes.append(loop.time())
        if len(passes) == 3:
            stop.set()

    await asyncio.wait_for(periodically(stop, resync, what="test", interval=0.05, retry=10), 10)
    assert len(passes) == 3
    # Each pass waits out the interval after the previous one.
    assert all(b - a >= 0.04 for a, b in itertools.pairwise(passes))


async def test_a_failed_pass_is_retried_after_the_retry_delay_and_warned_about_when_it_repeats(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()
    calls = 0

    async def resync() -> None:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise ConnectionError("no responders")
        stop.set()

    with caplog.at_level(logging.INFO, logger="berth.resync"):
        # An interval of an hour: only the retry delay can bring the later passes this soon.
        await asyncio.wait_for(periodically(stop, resync, what="routes", interval=3600, retry=0.01), 10)
    assert calls == 3
    levels = [r.levelno for r in caplog.records if "routes resync failed" in r.getMessage()]
    assert levels == [logging.INFO, logging.WARNING]


async def test_a_stopped_loop_returns_without_another_pass() -> None:
    stop = asyncio.Event()
    calls = 0

    async def resync() -> None:
        nonlocal calls
        calls += 1
        stop.set()

    await asyncio.wait_for(periodically(stop, resync, what="test", interval=3600), 10)
    assert calls == 1


def facts(app_id: str) -> AppFacts:
    return AppFacts(app_id=app_id, name="web", hostname="web.berth.test", port=8080, subnet="10.240.0.16/28")


def test_only_apps_the_owner_no_longer_has_are_stale_in_order() -> None:
    assert stale_apps({"kept", "gone", "also-gone"}, [facts("kept"), facts("new")]) == ("also-gone", "gone")


def test_nothing_held_nothing_stale() -> None:
    assert stale_apps(set(), [facts("a")]) == ()
