"""This host's own addresses, read from /proc (the resolver itself is tested in
shared/tests/test_dns.py)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from berth_router import dns

# -- this host's addresses ---------------------------------------------------------------------

FIB_TRIE = """\
Main:
  +-- 0.0.0.0/0 3 0 4
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 169.254.0.0/16 2 0 2
        |-- 169.254.10.1
           /32 host LOCAL
     +-- 192.0.2.0/24 2 0 2
        |-- 192.0.2.0
           /24 link UNICAST
        |-- 192.0.2.2
           /32 host LOCAL
        |-- 192.0.2.255
           /32 link BROADCAST
     |-- 198.51.100.9
        /24 link UNICAST
        /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 4
     |-- 192.0.2.2
        /32 host LOCAL
     |-- 203.0.113.1
        /32 link UNICAST
"""

IF_INET6 = """\
fe80000000000000004293fffeb2476c 16f1 40 20 80 br-c2a6375af994
fd000000000000000000000000000002 04 40 00 82     eth0
20010db8000000000000000000000005 04 40 00 80     eth0
00000000000000000000000000000001 01 80 10 80       lo
garbage line
"""


def test_fib_trie_gives_the_local_ipv4_addresses_but_loopback_and_link_local() -> None:
    assert dns.parse_fib_trie(FIB_TRIE) == {"192.0.2.2", "198.51.100.9"}


def test_if_inet6_gives_the_ipv6_addresses_but_loopback_and_link_local() -> None:
    assert dns.parse_if_inet6(IF_INET6) == {"fd00::2", "2001:db8::5"}


def test_local_addresses_reads_both_files_and_survives_missing_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fib_trie").write_text(FIB_TRIE)
    (tmp_path / "if_inet6").write_text(IF_INET6)
    monkeypatch.setattr(dns, "FIB_TRIE", tmp_path / "fib_trie")
    monkeypatch.setattr(dns, "IF_INET6", tmp_path / "if_inet6")
    assert dns.local_addresses() == {"192.0.2.2", "198.51.100.9", "fd00::2", "2001:db8::5"}
    monkeypatch.setattr(dns, "IF_INET6", tmp_path / "missing")
    assert dns.local_addresses() == {"192.0.2.2", "198.51.100.9"}
    monkeypatch.setattr(dns, "FIB_TRIE", tmp_path / "missing")
    assert dns.local_addresses() == set()


def test_this_hosts_addresses_have_no_loopback() -> None:
    assert not any(ipaddress.ip_address(a).is_loopback for a in dns.local_addresses())
