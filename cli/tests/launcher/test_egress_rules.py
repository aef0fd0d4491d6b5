"""The egress chain as data: which destinations an app or a build step of one instance may reach."""

from __future__ import annotations

import ipaddress

from berth_cli.launcher import egress_rules
from berth_cli.launcher.egress_rules import EgressPolicy, Jump

POLICY = EgressPolicy(
    instance="ab12cd34",
    pool=ipaddress.IPv4Network("10.241.8.0/22"),
    public_ports=(8080, 8443),
    build_bridge="berthb-ab12cd34",
)
CHAIN = "BERTH-EGRESS-ab12cd34"


def _target(rule: list[str]) -> str:
    return rule[rule.index("-j") + 1]


def test_chain_is_named_per_instance_within_iptables_limit() -> None:
    assert egress_rules.chain_name("ab12cd34") == CHAIN
    assert len(egress_rules.chain_name("x" * 40)) == 28


def test_replies_pass_first_so_the_proxy_still_reaches_slots() -> None:
    first = egress_rules.chain_rules(POLICY)[0]
    assert first == ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "RETURN"]


def test_only_the_proxy_public_ports_of_the_host_are_open() -> None:
    rules = egress_rules.chain_rules(POLICY)
    local = [r for r in rules if "LOCAL" in r]
    assert local[0] == [
        *["-m", "addrtype", "--dst-type", "LOCAL", "-p", "tcp"],
        *["-m", "multiport", "--dports", "8080,8443", "-j", "RETURN"],
    ]
    assert local[1] == ["-m", "addrtype", "--dst-type", "LOCAL", *egress_rules.REFUSE]
    assert rules.index(local[0]) < rules.index(local[1])


def test_pool_goes_to_dockers_isolation_before_private_ranges_are_refused() -> None:
    rules = egress_rules.chain_rules(POLICY)
    pool = rules.index(["-d", "10.241.8.0/22", "-j", "RETURN"])
    refused = {r[1]: i for i, r in enumerate(rules) if r[0] == "-d" and _target(r) == "REJECT"}
    for blocked in ("169.254.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"):
        assert refused[blocked] > pool
    # No rule opens anything else: the internet is what falls through.
    assert all(_target(r) in ("RETURN", "REJECT") for r in rules)
    assert [r for r in rules if _target(r) == "RETURN" and r[0] == "-d"] == [["-d", "10.241.8.0/22", "-j", "RETURN"]]


def test_restore_input_declares_the_chain_so_a_leftover_is_replaced() -> None:
    text = egress_rules.restore_input(POLICY)
    lines = text.splitlines()
    assert lines[:2] == ["*filter", f":{CHAIN} - [0:0]"]
    assert lines[-1] == "COMMIT"
    assert len([line for line in lines if line.startswith(f"-A {CHAIN} ")]) == len(egress_rules.chain_rules(POLICY))
    assert "DOCKER-USER" not in text and "INPUT" not in text  # never flushes anyone else's chain


def test_jumps_from_forward_and_input_for_the_pool_and_the_build_bridge() -> None:
    tag = ("-m", "comment", "--comment", "berth-egress:ab12cd34", "-j", CHAIN)
    assert egress_rules.jumps(POLICY) == [
        Jump("DOCKER-USER", ("-s", "10.241.8.0/22", *tag)),
        Jump("DOCKER-USER", ("-i", "berthb-ab12cd34", *tag)),
        Jump("INPUT", ("-s", "10.241.8.0/22", *tag)),
        Jump("INPUT", ("-i", "berthb-ab12cd34", *tag)),
    ]


LISTING = """-P INPUT ACCEPT
-A INPUT -s 10.241.8.0/22 -m comment --comment berth-egress:ab12cd34 -j BERTH-EGRESS-ab12cd34
-A INPUT -s 10.241.4.0/22 -m comment --comment berth-egress:ab12cd34 -j BERTH-EGRESS-ab12cd34
-A INPUT -s 10.241.12.0/22 -m comment --comment berth-egress:ffff0000 -j BERTH-EGRESS-ffff0000
-A INPUT -i lo -j ACCEPT
"""


def test_listing_finds_only_this_instances_jumps() -> None:
    found = egress_rules.parse_jumps("INPUT", LISTING, "ab12cd34")
    assert [j.spec[1] for j in found] == ["10.241.8.0/22", "10.241.4.0/22"]


def test_a_leftover_jump_of_another_pool_is_replaced_and_present_ones_kept() -> None:
    listed = egress_rules.parse_jumps("INPUT", LISTING, "ab12cd34")
    wanted = [j for j in egress_rules.jumps(POLICY) if j.parent == "INPUT"]
    stale, missing = egress_rules.jump_changes(listed, wanted)
    assert [j.spec[1] for j in stale] == ["10.241.4.0/22"]
    assert [j.spec[:2] for j in missing] == [("-i", "berthb-ab12cd34")]


def test_jumps_go_to_the_top_and_are_deleted_by_their_spec() -> None:
    jump = egress_rules.jumps(POLICY)[0]
    assert egress_rules.insert_args(jump)[:5] == ["-w", "5", "-I", "DOCKER-USER", "1"]
    assert egress_rules.delete_args(jump) == ["-w", "5", "-D", "DOCKER-USER", *jump.spec]
