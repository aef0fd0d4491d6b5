"""Naming the client: forwarding headers count only from the proxy (its secret), and the
address the proxy appended is the one that counts."""

from __future__ import annotations

import pytest
from berth_api.edge.client import Caller, caller, limiter_key
from berth_api.edge.cookies import PLAIN, SECURE, session_cookie

SECRET = "s3cret-from-credentials"

PEER = Caller("127.0.0.5", False)
REAL = Caller("203.0.113.7", False)

# name, (X-Berth-Proxy, X-Forwarded-For, X-Forwarded-Proto, scheme), the caller
CASES = [
    ("a direct client is its peer", (None, None, None, "http"), PEER),
    ("forged forwarding without the secret", (None, "1.2.3.4", None, "http"), PEER),
    ("forged forwarding with a wrong secret", ("guess", "1.2.3.4", None, "http"), PEER),
    ("an empty secret header", ("", "1.2.3.4", None, "http"), PEER),
    ("the proxy names its client", (SECRET, "203.0.113.7", None, "http"), REAL),
    ("the last address counts", (SECRET, "10.0.0.1, 203.0.113.7", None, "http"), REAL),
    ("ipv6 clients", (SECRET, "2001:db8::1", None, "http"), Caller("2001:db8::1", False)),
    ("junk falls back to the peer", (SECRET, "1.2.3.4, junk", None, "http"), PEER),
    ("https at the proxy", (SECRET, "203.0.113.7", "https", "http"), Caller("203.0.113.7", True)),
    ("https claimed by anyone else", (None, None, "https", "http"), PEER),
    ("https to the API itself", (None, None, None, "https"), Caller("127.0.0.5", True)),
]


@pytest.mark.parametrize(("given", "expected"), [(g, e) for _, g, e in CASES], ids=[c[0] for c in CASES])
def test_the_client_is_the_peer_unless_the_proxy_vouches(
    given: tuple[str | None, str | None, str | None, str], expected: Caller
) -> None:
    proxy_header, forwarded_for, forwarded_proto, scheme = given
    got = caller(
        peer="127.0.0.5",
        scheme=scheme,
        forwarded_for=forwarded_for,
        forwarded_proto=forwarded_proto,
        proxy_header=proxy_header,
        secret=SECRET,
    )
    assert got == expected


def test_without_a_configured_secret_nothing_is_trusted() -> None:
    got = caller(
        peer="127.0.0.5", scheme="http", forwarded_for="1.2.3.4", forwarded_proto="https", proxy_header="", secret=None
    )
    assert got == Caller("127.0.0.5", False)


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("unknown", "unknown"),
    ],
)
def test_ipv6_clients_are_counted_per_64(address: str, key: str) -> None:
    assert limiter_key(address) == key


def test_the_session_cookie_is_host_prefixed_and_secure_over_https() -> None:
    secure, plain = session_cookie(True), session_cookie(False)
    assert (secure.name, secure.secure, secure.path, secure.httponly, secure.samesite) == (
        SECURE,
        True,
        "/",
        True,
        "strict",
    )
    assert (plain.name, plain.secure, plain.httponly, plain.samesite) == (PLAIN, False, True, "strict")
    assert SECURE == "__Host-" + PLAIN
