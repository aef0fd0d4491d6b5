"""The address plan: a /28 per app, gateway .1, slot a .2, slot b .3."""

from __future__ import annotations

import ipaddress

from berth_shared.netplan import first_free_subnet, gateway_address, other_slot, slot_address


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
