"""Which addresses webhooks may go to: a table of every kind, IPv4 inside IPv6 included."""

from __future__ import annotations

import pytest
from berth_shared.addresses import literal_address, non_public_kind, parse_allow_private, refusal


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("93.184.215.14", None),
        ("1.1.1.1", None),
        ("2606:4700:4700::1111", None),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("fc00::1", "private"),
        ("100.64.0.1", "shared (100.64.0.0/10)"),
        ("100.127.255.254", "shared (100.64.0.0/10)"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "reserved"),  # documentation: not global
        ("198.18.0.1", "reserved"),  # benchmarking
        ("::ffff:127.0.0.1", "loopback (127.0.0.1 inside IPv6)"),
        ("::ffff:10.0.0.1", "private (10.0.0.1 inside IPv6)"),
        ("64:ff9b::5db8:d70e", None),  # NAT64 of a public address
        ("::ffff:93.184.215.14", None),
        ("2002:7f00:1::1", "loopback (127.0.0.1 inside IPv6)"),  # 6to4
        ("64:ff9b::a9fe:a9fe", "link-local (169.254.169.254 inside IPv6)"),  # NAT64
        ("2002:5db8:d70e::1", None),  # 6to4 of a public address
    ],
)
def test_address_kinds(address: str, kind: str | None) -> None:
    assert non_public_kind(address) == kind


def test_text_that_is_not_an_address_is_an_error() -> None:
    with pytest.raises(ValueError):
        non_public_kind("example.com")


def test_every_address_of_a_name_must_be_public() -> None:
    reason = refusal("mixed.example.com", ["93.184.215.14", "127.0.0.1"], allow_private=False)
    assert reason is not None
    assert reason.startswith("mixed.example.com resolves to 127.0.0.1, which is a loopback address")
    assert "BERTH_ALLOW_PRIVATE_WEBHOOKS=true" in reason
    assert refusal("ok.example.com", ["93.184.215.14", "2606:4700:4700::1111"], allow_private=False) is None


def test_a_literal_address_is_named_as_such() -> None:
    assert refusal("10.0.0.1", ["10.0.0.1"], allow_private=False) == (
        "10.0.0.1 is a private address; webhooks go to public addresses only "
        "(set BERTH_ALLOW_PRIVATE_WEBHOOKS=true to allow private ones)"
    )


def test_allowing_private_addresses_allows_them_but_never_no_address() -> None:
    assert refusal("hook.test", ["127.0.0.1"], allow_private=True) is None
    assert refusal("hook.test", [], allow_private=True) == "hook.test has no address"
    assert refusal("hook.test", [], allow_private=False) == "hook.test has no address"


@pytest.mark.parametrize(
    ("host", "expected"),
    [("example.com", None), ("127.0.0.1", "127.0.0.1"), ("::1", "::1"), ("[::1]", "::1"), ("a1.example", None)],
)
def test_literal_addresses(host: str, expected: str | None) -> None:
    found = literal_address(host)
    assert (str(found) if found is not None else None) == expected


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "127.1", "0177.0.0.1", "0x7f000001", "1.2.3.04."])
def test_numeric_forms_resolvers_would_guess_are_refused(host: str) -> None:
    with pytest.raises(ValueError, match="standard notation"):
        literal_address(host)


@pytest.mark.parametrize(
    ("value", "allowed"), [("", False), ("false", False), ("0", False), ("true", True), ("TRUE", True), ("1", True)]
)
def test_the_setting(value: str, allowed: bool) -> None:
    assert parse_allow_private(value) is allowed


def test_a_bad_setting_is_named() -> None:
    with pytest.raises(ValueError, match="BERTH_ALLOW_PRIVATE_WEBHOOKS must be true or false"):
        parse_allow_private("maybe")
