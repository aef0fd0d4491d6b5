"""The drain rules as data: what iptables is asked to do, and how its listing is read back."""

from __future__ import annotations

from berth_agent.drain import decide as netfilter
from berth_agent.drain.decide import DrainRule, ListedRule

RULE = DrainRule(instance="prod", app_id="app1", slot="a", address="10.90.0.2", port=8080)

# What `iptables -S OUTPUT` prints after `iptables -I OUTPUT 1 <RULE.spec()>` (iptables 1.8.9, nft).
TAIL = "-j REJECT --reject-with tcp-reset"
SYN = "-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN"
LISTING = "\n".join(
    [
        "-P OUTPUT ACCEPT",
        f"-A OUTPUT -d 10.90.0.2/32 -p tcp -m tcp --dport 8080 --tcp-flags FIN,SYN,RST,ACK SYN"
        f' -m comment --comment "berth:prod:app1:a" {TAIL}',
        f"-A OUTPUT -d 10.90.0.19/32 {SYN} -m comment --comment berth:prod:app2:b {TAIL}",
        f'-A OUTPUT -d 10.90.0.35/32 -p tcp -m comment --comment "berth:staging:app3:a" {TAIL}',
        '-A OUTPUT -d 10.1.0.0/16 -m comment --comment "someone else\'s rule" -j DROP',
        '-A OUTPUT -p tcp -m comment --comment "berth:not-ours" -j ACCEPT',
    ]
)


def test_the_rule_refuses_only_new_tcp_connections_to_the_slot_with_a_reset() -> None:
    spec = RULE.spec()
    assert spec[spec.index("-d") + 1] == "10.90.0.2/32"
    assert spec[spec.index("--dport") + 1] == "8080"
    assert "--syn" in spec  # established connections (in-flight requests) are not matched
    assert spec[spec.index("-j") + 1 :] == ["REJECT", "--reject-with", "tcp-reset"]
    assert spec[spec.index("--comment") + 1] == "berth:prod:app1:a"


def test_insert_goes_first_in_the_chain_and_every_call_waits_for_the_lock() -> None:
    assert netfilter.insert_args("OUTPUT", RULE) == ["-w", "5", "-I", "OUTPUT", "1", *RULE.spec()]
    assert netfilter.check_args("FORWARD", RULE) == ["-w", "5", "-C", "FORWARD", *RULE.spec()]
    assert netfilter.list_args("OUTPUT") == ["-w", "5", "-S", "OUTPUT"]
    assert netfilter.CHAINS == ("OUTPUT", "FORWARD")


def test_the_listing_yields_only_berth_rules_with_their_identity() -> None:
    rules = netfilter.parse_listing("OUTPUT", LISTING)
    assert [(r.instance, r.app_id, r.slot) for r in rules] == [
        ("prod", "app1", "a"),
        ("prod", "app2", "b"),
        ("staging", "app3", "a"),
    ]
    assert netfilter.parse_listing("FORWARD", LISTING) == []  # lines of another chain


def test_a_listed_rule_is_deleted_by_exactly_its_printed_spec() -> None:
    (first, *_) = netfilter.parse_listing("OUTPUT", LISTING)
    args = netfilter.delete_args(first)
    assert args[:4] == ["-w", "5", "-D", "OUTPUT"]
    assert args[4:] == [
        *("-d", "10.90.0.2/32", "-p", "tcp", "-m", "tcp", "--dport", "8080"),
        *("--tcp-flags", "FIN,SYN,RST,ACK", "SYN", "-m", "comment", "--comment", "berth:prod:app1:a"),
        *("-j", "REJECT", "--reject-with", "tcp-reset"),
    ]


def test_stale_rules_are_this_instances_rules_no_drain_owns() -> None:
    rules = netfilter.parse_listing("OUTPUT", LISTING)
    stale = netfilter.stale_rules(rules, "prod", draining=frozenset({("app1", "a")}))
    assert [(r.app_id, r.slot) for r in stale] == [("app2", "b")]
    assert netfilter.stale_rules(rules, "prod", frozenset(), app_id="app1") == [rules[0]]
    assert netfilter.apps_with_rules(rules, "prod") == {"app1", "app2"}
    assert netfilter.rules_of(rules, "prod", "app1", "b") == []


def test_comments_of_other_shapes_are_not_berths() -> None:
    assert netfilter.parse_comment("berth:prod:app1:a") == ("prod", "app1", "a")
    for comment in ("berth:prod:app1", "berth::app1:a", "other:prod:app1:a", "berth:prod:app1:a:x"):
        assert netfilter.parse_comment(comment) is None


def test_listed_rules_compare_by_value() -> None:
    rule = ListedRule("OUTPUT", ("-j", "REJECT"), "prod", "app1", "a")
    assert rule == ListedRule("OUTPUT", ("-j", "REJECT"), "prod", "app1", "a")


def test_rules_other_instances_left_on_an_address_are_found_by_that_address_only() -> None:
    rules = netfilter.parse_listing("OUTPUT", LISTING)
    assert netfilter.destination(rules[2].spec) == "10.90.0.35"
    assert [(r.instance, r.app_id) for r in netfilter.foreign_rules_at(rules, "prod", "10.90.0.35")] == [
        ("staging", "app3")
    ]
    assert netfilter.foreign_rules_at(rules, "prod", "10.90.0.2") == []  # prod's own rule: not foreign
    assert netfilter.foreign_rules_at(rules, "staging", "10.90.0.2") == [rules[0]]
    assert netfilter.foreign_rules_at(rules, "prod", "10.90.0.3") == []
