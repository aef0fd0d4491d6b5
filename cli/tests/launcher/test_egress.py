"""The launcher installs and removes the instance's egress chain in the host's real iptables."""

from __future__ import annotations

import ipaddress
import secrets
import subprocess
from collections.abc import Iterator

import pytest
from berth_cli.launcher import egress, egress_rules
from berth_cli.launcher.egress_rules import EgressPolicy

pytestmark = pytest.mark.integration


def _rules(chain: str) -> list[str]:
    done = subprocess.run(["iptables", "-w", "5", "-S", chain], capture_output=True, text=True, check=False)
    return done.stdout.splitlines() if done.returncode == 0 else []


def _jumps(instance: str) -> list[str]:
    tag = f"berth-egress:{instance}"
    return [line for parent in egress_rules.PARENTS for line in _rules(parent) if tag in line]


@pytest.fixture
def instance() -> Iterator[str]:
    name = secrets.token_hex(4)
    yield name
    egress.remove(name)


def _policy(instance: str, pool: str) -> EgressPolicy:
    return EgressPolicy(instance, ipaddress.IPv4Network(pool), (18080, 18443), f"berthb-{instance}")


def test_install_is_idempotent_and_remove_leaves_nothing(instance: str) -> None:
    policy = _policy(instance, "10.241.200.0/22")
    chain = egress_rules.chain_name(instance)
    assert egress.install(policy)
    assert egress.install(policy)
    assert len(_jumps(instance)) == 4  # no duplicates after a second start
    assert len(_rules(chain)) == 1 + len(egress_rules.chain_rules(policy))  # "-N chain" + the rules
    first_input = _rules("INPUT")[1]
    assert f"berth-egress:{instance}" in first_input  # at the top of INPUT

    egress.remove(instance)
    assert _jumps(instance) == []
    assert _rules(chain) == []


def test_a_crashed_runs_chain_and_jumps_are_replaced(instance: str) -> None:
    egress.install(_policy(instance, "10.241.204.0/22"))  # then "crashed": never removed
    policy = _policy(instance, "10.241.208.0/22")
    egress.install(policy)
    jumps = _jumps(instance)
    assert len(jumps) == 4
    assert not any("10.241.204.0/22" in j for j in jumps)
    assert any("-d 10.241.208.0/22 -j RETURN" in r for r in _rules(egress_rules.chain_name(instance)))


def test_two_instances_keep_their_own_rules(instance: str) -> None:
    other = secrets.token_hex(4)
    try:
        egress.install(_policy(instance, "10.241.212.0/22"))
        egress.install(_policy(other, "10.241.216.0/22"))
        egress.remove(other)
        assert len(_jumps(instance)) == 4
        assert _rules(egress_rules.chain_name(instance))
    finally:
        egress.remove(other)
