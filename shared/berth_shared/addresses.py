"""Which addresses the platform may send a request to on a user's behalf (webhooks).

Only public unicast addresses are allowed by default: a URL that leads to loopback, this host,
the host's private networks or a cloud's metadata address would let anyone holding a token make
the platform talk to what only it can reach (server-side request forgery). Pure functions; the
resolving and the connecting are done elsewhere, always with the addresses checked here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOW_PRIVATE_SETTING = "BERTH_ALLOW_PRIVATE_WEBHOOKS"

# ``ipaddress.is_private`` also covers documentation and reserved ranges; "private" here means
# the networks a site uses internally (RFC 1918, unique local IPv6). 100.64.0.0/10 (carrier-grade
# NAT, RFC 6598) is its own kind. Everything else that is not global is "reserved".
_PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and would reach: IPv4-mapped (``::ffff:a.b.c.d``),
    6to4 (``2002::/16``), NAT64 (``64:ff9b::/96``) or Teredo's client address."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _kind(address: Address) -> str | None:
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "shared (100.64.0.0/10)"
    if any(address in network for network in _PRIVATE):
        return "private"
    if not address.is_global:
        return "reserved"
    return None


def non_public_kind(address: Address | str) -> str | None:
    """None for a public unicast address; otherwise what it is: ``loopback``, ``link-local``,
    ``private``, ``shared (100.64.0.0/10)``, ``unspecified``, ``multicast`` or ``reserved``.
    An IPv6 address that carries an IPv4 one is judged by both. Raises ValueError for text that
    is not an IP address."""
    parsed = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(parsed, ipaddress.IPv6Address) and (inner := _embedded_ipv4(parsed)) is not None:
        inner_kind = _kind(inner)
        if inner_kind is not None:
            return f"{inner_kind} ({inner} inside IPv6)"
        if parsed.ipv4_mapped is not None or parsed in _NAT64:
            return None  # the IPv4 address is what is reached, and it is public
    return _kind(parsed)


def refusal(host: str, addresses: Iterable[str], *, allow_private: bool) -> str | None:
    """Why a request to ``host`` (which resolved to ``addresses``) must not be made, or None.

    Every address must pass, not only the first: a name with one public and one loopback
    address could otherwise be connected to either. No address at all is refused too."""
    found = list(addresses)
    if not found:
        return f"{host} has no address"
    if allow_private:
        return None
    for address in found:
        kind = non_public_kind(address)
        if kind is not None:
            where = f"{host} is" if host == address else f"{host} resolves to {address}, which is"
            return (
                f"{where} a {kind} address; webhooks go to public addresses only "
                f"(set {ALLOW_PRIVATE_SETTING}=true to allow private ones)"
            )
    return None


def literal_address(host: str) -> Address | None:
    """The IP address ``host`` (a URL's host, IPv6 without brackets) is written as, or None for a
    name. Raises ValueError for numeric forms that resolvers read as IPv4 but ``ipaddress`` does
    not (``2130706433``, ``0x7f.1``, ``127.1``, ``0177.0.0.1``): they are refused, never guessed."""
    text = host.strip("[]")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    last = text.rstrip(".").rsplit(".", 1)[-1].lower()
    if last.isdigit() or (last.startswith("0x") and all(c in "0123456789abcdef" for c in last[2:])):
        raise ValueError(f"{host!r} is neither a host name nor an IP address in standard notation")
    return None


def parse_allow_private(value: str) -> bool:
    """The value of ``BERTH_ALLOW_PRIVATE_WEBHOOKS``: ``true``/``1``/``yes`` or ``false``/``0``/``no``/empty."""
    text = value.strip().lower()
    if text in ("", "false", "0", "no"):
        return False
    if text in ("true", "1", "yes"):
        return True
    raise ValueError(f"{ALLOW_PRIVATE_SETTING} must be true or false, got {value!r}")
