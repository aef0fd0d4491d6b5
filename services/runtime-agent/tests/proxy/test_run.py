"""How long the agent holds a release back after the router confirmed its switch."""

from __future__ import annotations

from berth_agent.proxy.run import settle_seconds
from berth_shared.contracts.slots import SlotSwitched
from berth_shared.proxy_timing import UPSTREAM_REFRESH_SECONDS


def confirmed(stale: float | None) -> SlotSwitched:
    return SlotSwitched(app_id="app1", release_id="r2", slot="b", stale_for_seconds=stale)


def test_a_router_that_says_nothing_is_held_costs_no_wait() -> None:
    assert settle_seconds(confirmed(0.0)) == 0.0


def test_what_the_router_says_the_proxy_may_hold_is_waited_never_more_than_the_refresh_bound() -> None:
    assert settle_seconds(confirmed(0.04)) == 0.04
    assert settle_seconds(confirmed(5.0)) == UPSTREAM_REFRESH_SECONDS
    assert settle_seconds(confirmed(-1.0)) == 0.0


def test_a_router_that_does_not_tell_gets_the_whole_refresh_bound() -> None:
    assert settle_seconds(confirmed(None)) == UPSTREAM_REFRESH_SECONDS
