"""This host's own addresses, read from ``/proc``: does a custom hostname point here?

The resolver itself (wire format, asking a server or the system) is :mod:`berth_shared.dns`,
shared with the API and the health service; its names are imported here for the router.
"""

from __future__ import annotations

import contextlib
import ipaddress
from pathlib import Path

from berth_shared.dns import AAAA, DEFAULT_PORT, A, DnsError, encode_query, parse_addresses, parse_server, resolve

__all__ = [
    "AAAA",
    "DEFAULT_PORT",
    "A",
    "DnsError",
    "encode_query",
    "local_addresses",
    "parse_addresses",
    "parse_fib_trie",
    "parse_if_inet6",
    "parse_server",
    "resolve",
]

FIB_TRIE = Path("/proc/net/fib_trie")
IF_INET6 = Path("/proc/net/if_inet6")


# -- this host's addresses --


def _usable(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not (address.is_loopback or address.is_link_local or address.is_unspecified or address.is_multicast)


def parse_fib_trie(text: str) -> set[str]:
    """The local IPv4 addresses in ``/proc/net/fib_trie``: leaves (``|-- 10.0.0.5``) followed
    by a ``/32 host LOCAL`` line, except loopback and link-local ones."""
    found: set[str] = set()
    leaf: str | None = None
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "|--":
            leaf = words[1]
        elif words[:1] == ["+--"] or (words and words[0].endswith(":")):  # an inner node, or a table name
            leaf = None
        elif leaf is not None and words == ["/32", "host", "LOCAL"]:
            with contextlib.suppress(ValueError):
                address = ipaddress.IPv4Address(leaf)
                if _usable(address):
                    found.add(str(address))
    return found


def parse_if_inet6(text: str) -> set[str]:
    """The IPv6 addresses in ``/proc/net/if_inet6`` (32 hex digits first on each line), except
    loopback and link-local ones."""
    found: set[str] = set()
    for line in text.splitlines():
        words = line.split()
        if not words or len(words[0]) != 32:
            continue
        with contextlib.suppress(ValueError):
            address = ipaddress.IPv6Address(int(words[0], 16))
            if _usable(address):
                found.add(str(address))
    return found


def local_addresses() -> set[str]:
    """This host's own unicast addresses (IPv4 and IPv6), without loopback and link-local ones.
    A file that cannot be read (no /proc, another OS) contributes nothing."""
    found: set[str] = set()
    for path, parse in ((FIB_TRIE, parse_fib_trie), (IF_INET6, parse_if_inet6)):
        try:
            text = path.read_text()
        except OSError:
            continue
        found |= parse(text)
    return found
