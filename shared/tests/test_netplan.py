"""The address plan: a /28 per app, gateway .1, slot a .2, slot b .3, the rest picked by the agent."""

from __future__ import annotations

import ipaddress

import pytest
from berth_shared.netplan import (
    container_capacity,
    first_free_subnet,
    formation_fits,
    gateway_address,
    other_slot,
    pick_address,
    rollout_peak,
    shared_range,
    slot_address,
)


def test_slot_addresses() -> None:
    assert gateway_address("10.240.0.16/28") == "10.240.0.17"
    assert slot_address("10.240.0.16/28", "a") == "10.240.0.18"
    assert slot_address("10.240.0.16/28", "b") == "10.240.0.19"
    assert other_slot("a") == "b" and other_slot("b") == "a"


def test_allocation_takes_the_lowest_free_subnet_and_reports_a_full_pool() -> None:
    pool = ipaddress.IPv4Network("10.240.0.0/26")
    assert first_free_subnet(pool, []) == "10.240.0.0/28"
    assert first_free_subnet(pool, ["10.240.0.0/28", "10.240.0.32/28"]) == "10.240.0.16/28"
    full = [str(n) for n in pool.subnets(new_prefix=28)]
    assert first_free_subnet(pool, full) is None


def test_the_shared_range_is_everything_after_the_fixed_slots() -> None:
    assert shared_range("10.240.0.16/28") == [f"10.240.0.{n}" for n in range(20, 31)]
    assert container_capacity("10.240.0.16/28") == 13
    assert container_capacity("10.240.0.0/27") == 29
    with pytest.raises(ValueError, match="smaller than a /28"):
        shared_range("10.240.0.0/29")


def test_the_agent_picks_the_lowest_free_address_of_the_range() -> None:
    subnet = "10.240.0.16/28"
    assert pick_address(subnet, []) == "10.240.0.20"
    # The fixed slots and addresses outside the range never count against it.
    assert pick_address(subnet, ["10.240.0.18", "10.240.0.19", "10.240.0.20", "10.240.0.22"]) == "10.240.0.21"
    assert pick_address(subnet, shared_range(subnet)) is None


def test_a_formation_fits_when_its_rollout_peak_leaves_the_run_reserve() -> None:
    subnet = "10.240.0.16/28"  # 13 addresses, 3 kept for runs: 10 during a rollout
    assert rollout_peak({"web": 2, "worker": 3}) == 10
    assert formation_fits(subnet, {"web": 2, "worker": 3}) is None
    assert formation_fits(subnet, {"web": 0, "worker": 5}) is None
    problem = formation_fits(subnet, {"web": 3, "worker": 3})
    assert problem is not None and "needs 12 addresses" in problem and "at most 5 instances" in problem
    assert formation_fits("10.240.0.0/27", {"web": 4, "worker": 8}) is None
