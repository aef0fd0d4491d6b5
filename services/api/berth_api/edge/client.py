"""Who is calling, as far as the network says: the peer address, or, only for requests the
proxy vouches for (header ``X-Berth-Proxy`` equal to the proxy secret), the address the proxy
appended last to ``X-Forwarded-For``, and its ``X-Forwarded-Proto``. Anyone else's forwarding
headers are ignored: they are the client's own claims."""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

PROXY_HEADER = "x-berth-proxy"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Caller:
    address: str  # the client's IP address as text (``unknown`` without a peer)
    https: bool  # reached the platform over HTTPS (directly, or at the proxy)


def vouched_by_proxy(proxy_header: str | None, secret: str | None) -> bool:
    """Whether the request carries the proxy's secret (compared in constant time)."""
    if not secret or proxy_header is None:
        return False
    return hmac.compare_digest(proxy_header.encode(), secret.encode())


def last_forwarded(forwarded_for: str | None) -> str | None:
    """The last valid address in ``X-Forwarded-For``: the one the proxy itself appended."""
    if not forwarded_for:
        return None
    candidate = forwarded_for.split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def caller(
    *,
    peer: str | None,
    scheme: str,
    forwarded_for: str | None,
    forwarded_proto: str | None,
    proxy_header: str | None,
    secret: str | None,
) -> Caller:
    if vouched_by_proxy(proxy_header, secret):
        address = last_forwarded(forwarded_for) or peer or UNKNOWN
        https = scheme == "https" or (forwarded_proto or "").strip().lower() == "https"
        return Caller(address, https)
    return Caller(peer or UNKNOWN, scheme == "https")


def limiter_key(address: str) -> str:
    """What failures are counted against: the address; for IPv6 its /64 (one host's usual
    allocation, which it could otherwise walk through to dodge the limit)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)
