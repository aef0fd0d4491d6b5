"""The slot DNS answers, read back with the platform's own stub resolver's parser (and checked
field by field where the parser does not look: flags, question, record count)."""

from __future__ import annotations

import struct

import pytest
from berth_router.slot_answers import (
    DELIVERY_MARGIN_SECONDS,
    ZONE,
    answer,
    answer_naming,
    answer_table,
    slot_addresses,
    slot_name,
    stale_for,
)
from berth_shared.dns import AAAA, A, DnsError, encode_query, parse_addresses

APP = "0b6f3a52-64d4-4c1e-9a57-2f0c1d1e9b11"
TABLE = {slot_name(APP): ("10.240.0.3",)}


def flags(response: bytes) -> int:
    return int(struct.unpack_from("!H", response, 2)[0])


def counts(response: bytes) -> tuple[int, int, int, int]:
    qd, an, ns, ar = struct.unpack_from("!HHHH", response, 4)
    return qd, an, ns, ar


def test_the_name_is_the_app_id_under_the_slot_zone() -> None:
    assert slot_name(APP.upper()) == f"{APP}.slot.berth.internal."
    assert ZONE == "slot.berth.internal."


def test_the_table_holds_the_live_slot_address_of_every_routed_app() -> None:
    subnets = {APP: "10.240.0.0/28", "other": "10.240.0.16/28"}
    live = {APP: ("b", []), "other": ("a", []), "unrouted": ("a", [])}
    assert answer_table(subnets, live) == {  # type: ignore[arg-type]
        slot_name(APP): ("10.240.0.3",),
        slot_name("other"): ("10.240.0.18",),
    }


def test_the_table_holds_every_web_address_the_agent_named_for_the_live_slot() -> None:
    subnets = {APP: "10.240.0.0/28"}
    live = {APP: ("b", ["10.240.0.3", "10.240.0.7", "10.240.0.5"])}
    assert answer_table(subnets, live) == {slot_name(APP): ("10.240.0.3", "10.240.0.7", "10.240.0.5")}  # type: ignore[arg-type]


def test_addresses_outside_the_apps_subnet_or_repeated_are_never_answered() -> None:
    named = ["10.240.0.3", "10.240.0.99", "not an address", "10.240.0.3", "10.240.0.4"]
    assert slot_addresses("10.240.0.0/28", "b", named) == ("10.240.0.3", "10.240.0.4")
    assert slot_addresses("10.240.0.0/28", "b", ["10.240.1.3"]) == ("10.240.0.3",)  # none left: the fixed one
    assert slot_addresses("10.240.0.0/28", "a", []) == ("10.240.0.2",)  # an older agent names none


def test_an_a_query_gets_one_record_per_web_address() -> None:
    table = {slot_name(APP): ("10.240.0.3", "10.240.0.7")}
    response = answer(encode_query(slot_name(APP), A, 77), table)
    assert response is not None
    assert parse_addresses(response, 77) == ["10.240.0.3", "10.240.0.7"]
    assert counts(response) == (1, 2, 0, 0)


def test_an_a_query_for_a_live_app_gets_its_slot_address() -> None:
    response = answer(encode_query(slot_name(APP), A, 4242), TABLE)
    assert response is not None
    assert parse_addresses(response, 4242) == ["10.240.0.3"]
    assert flags(response) & 0x8000 and flags(response) & 0x0400  # a response, authoritative
    assert flags(response) & 0x0100  # the query's "recursion desired" is echoed
    assert counts(response) == (1, 1, 0, 0)


def test_names_are_matched_whatever_their_case() -> None:
    response = answer(encode_query(slot_name(APP).upper(), A, 7), TABLE)
    assert response is not None and parse_addresses(response, 7) == ["10.240.0.3"]


def test_an_unknown_app_is_nxdomain_so_the_proxy_falls_back_to_both_slots() -> None:
    response = answer(encode_query(slot_name("gone"), A, 9), TABLE)
    assert response is not None
    assert flags(response) & 0x000F == 3
    assert parse_addresses(response, 9) == []


def test_another_record_type_of_a_known_name_is_an_empty_authoritative_answer() -> None:
    response = answer(encode_query(slot_name(APP), AAAA, 11), TABLE)
    assert response is not None
    assert flags(response) & 0x000F == 0 and flags(response) & 0x0400
    assert counts(response) == (1, 0, 0, 0)
    assert parse_addresses(response, 11) == []


def test_a_query_with_an_edns_record_is_answered_without_it() -> None:
    query = bytearray(encode_query(slot_name(APP), A, 5))
    query[10:12] = struct.pack("!H", 1)  # arcount: the OPT record Go's resolver adds
    query += b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
    response = answer(bytes(query), TABLE)
    assert response is not None and parse_addresses(response, 5) == ["10.240.0.3"]
    assert counts(response) == (1, 1, 0, 0)


@pytest.mark.parametrize(
    ("query", "rcode"),
    [
        (struct.pack("!HHHHHH", 1, 0x0100, 2, 0, 0, 0), 1),  # two questions: FORMERR
        (struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"\x05abc", 1),  # a name cut off
        (struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"\x00\x00", 1),  # no type and class
        (struct.pack("!HHHHHH", 1, 0x2100, 1, 0, 0, 0), 4),  # an inverse query (opcode 4): NOTIMP
    ],
)
def test_malformed_or_unsupported_queries_get_an_error_code(query: bytes, rcode: int) -> None:
    response = answer(query, TABLE)
    assert response is not None
    assert struct.unpack_from("!H", response)[0] == 1
    assert flags(response) & 0x000F == rcode
    with pytest.raises(DnsError):
        parse_addresses(response, 1)


@pytest.mark.parametrize("message", [b"", b"\x00" * 11, struct.pack("!HHHHHH", 1, 0x8400, 1, 0, 0, 0)])
def test_what_is_no_query_is_never_answered(message: bytes) -> None:
    assert answer(message, TABLE) is None


def test_only_an_address_answered_and_the_one_served_now_name_who_answered() -> None:
    assert answer_naming(encode_query(slot_name(APP), A, 1), TABLE)[1] == slot_name(APP)
    assert answer_naming(encode_query(slot_name(APP), AAAA, 2), TABLE)[1] is None
    assert answer_naming(encode_query(slot_name("gone"), A, 3), TABLE)[1] is None


def test_the_proxy_holds_an_earlier_answer_only_for_the_refresh_bound_after_it() -> None:
    refresh = 0.1
    assert stale_for(None, ("10.0.0.3",), now=50.0, refresh=refresh) == 0.0  # never looked up: a first deploy
    assert stale_for((49.98, ("10.0.0.3",)), ("10.0.0.3",), now=50.0, refresh=refresh) == 0.0  # already this slot
    held = stale_for((49.98, ("10.0.0.2",)), ("10.0.0.3",), now=50.0, refresh=refresh)
    assert held == pytest.approx(0.08 + DELIVERY_MARGIN_SECONDS)
    assert stale_for((49.5, ("10.0.0.2",)), ("10.0.0.3",), now=50.0, refresh=refresh) == 0.0  # an idle app


def test_only_an_earlier_answer_with_an_address_no_longer_listed_is_waited_for() -> None:
    refresh = 0.1
    two = ("10.0.0.3", "10.0.0.5")
    assert stale_for((49.98, ("10.0.0.3",)), two, now=50.0, refresh=refresh) == 0.0  # scaled up: nothing old
    assert stale_for((49.98, ("10.0.0.5", "10.0.0.3")), two, now=50.0, refresh=refresh) == 0.0  # same set
    shrunk = stale_for((49.98, two), ("10.0.0.3",), now=50.0, refresh=refresh)  # scaled down: .5 may be held
    assert shrunk == pytest.approx(0.08 + DELIVERY_MARGIN_SECONDS)
    moved = stale_for((49.98, two), ("10.0.0.2", "10.0.0.3", "10.0.0.6"), now=50.0, refresh=refresh)
    assert moved == pytest.approx(0.08 + DELIVERY_MARGIN_SECONDS)
