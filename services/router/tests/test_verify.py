"""Verification verdicts (pure) and the HTTP token check against a real token server."""

from __future__ import annotations

import pytest
from berth_router.ask import AskServer
from berth_router.domain_checks import Verdict
from berth_router.verify import Tokens, Verifier, dns_verdict, not_here


def test_a_name_with_one_of_this_hosts_addresses_is_verified_by_dns() -> None:
    assert dns_verdict("shop.example.com", ["192.0.2.1", "203.0.113.5"], {"203.0.113.5"}) == Verdict(True, "dns")


def test_a_name_without_records_fails_at_once_with_advice() -> None:
    verdict = dns_verdict("shop.example.com", [], {"203.0.113.5"})
    assert verdict is not None and not verdict.ok
    assert verdict.problem == "DNS: shop.example.com has no A/AAAA record; point it at this host"


def test_a_name_elsewhere_is_left_to_the_http_check_and_then_explained() -> None:
    assert dns_verdict("shop.example.com", ["192.0.2.1"], {"203.0.113.5"}) is None
    verdict = not_here("shop.example.com", ["192.0.2.1"], {"203.0.113.5"}, "192.0.2.1:80 did not answer")
    assert verdict.problem == (
        "DNS: shop.example.com resolves to 192.0.2.1, not to this host (203.0.113.5); "
        "and over HTTP 192.0.2.1:80 did not answer"
    )
    assert "set BERTH_PUBLIC_ADDRESSES" in str(not_here("x.example", ["192.0.2.1"], set(), "-").problem)


def test_tokens_differ_per_name_and_per_router() -> None:
    tokens = Tokens(b"k" * 32)
    assert tokens("a.example") == Tokens(b"k" * 32)("a.example") != tokens("b.example")
    assert Tokens()("a.example") != Tokens()("a.example")


@pytest.mark.parametrize(("served_by_same_router", "ok"), [(True, True), (False, False)])
async def test_the_http_check_accepts_only_this_routers_token(served_by_same_router: bool, ok: bool) -> None:
    async def no_hosts() -> set[str]:
        return set()

    mine = Tokens()
    server = AskServer(no_hosts, token=mine if served_by_same_router else Tokens())
    port = await server.start()
    try:
        verifier = Verifier(http_port=port, own_addresses=set, tokens=mine)
        problem = await verifier.fetch_token("shop.example.com", "127.0.0.1")
    finally:
        await server.close()
    assert (problem == "") is ok
    if not ok:
        assert "answered, but not with this host's token" in problem


async def test_the_http_check_says_when_nothing_answers() -> None:
    verifier = Verifier(http_port=1, own_addresses=set, tokens=Tokens())
    problem = await verifier.fetch_token("shop.example.com", "127.0.0.1")
    assert problem.startswith("127.0.0.1:1 did not answer")
