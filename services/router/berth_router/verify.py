"""Does a hostname lead to this host? Checked before any CA is asked for its certificate.

First by DNS: one of its A/AAAA addresses is this host's (``BERTH_PUBLIC_ADDRESSES``, else the
addresses of the host's interfaces). Otherwise (a host behind NAT, a proxy in front) by HTTP:
``GET http://<hostname>/.well-known/berth-verify`` through the name's addresses must return this
router's token for the name, which only this router can answer.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable

from berth_shared import http1

from berth_router import dns
from berth_router.ask import VERIFY_PATH
from berth_router.domain_checks import Verdict

log = logging.getLogger("berth.router.verify")

HTTP_TIMEOUT = 3.0
# At most this many of a name's addresses are tried for the token.
MAX_HTTP_TRIES = 3


class Tokens:
    """Per-process tokens: HMAC of the hostname under a key that never leaves the router."""

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key or secrets.token_bytes(32)

    def __call__(self, hostname: str) -> str:
        return hmac.new(self.key, hostname.encode(), hashlib.sha256).hexdigest()[:32]


def dns_verdict(hostname: str, addresses: list[str], own: set[str]) -> Verdict | None:
    """The verdict DNS alone gives (pure): yes, a clear no (no records), or None (try HTTP)."""
    if not addresses:
        return Verdict(False, problem=f"DNS: {hostname} has no A/AAAA record; point it at this host")
    if own & set(addresses):
        return Verdict(True, method="dns")
    return None


def not_here(hostname: str, addresses: list[str], own: set[str], http_problem: str) -> Verdict:
    mine = ", ".join(sorted(own)) or "unknown (set BERTH_PUBLIC_ADDRESSES)"
    return Verdict(
        False,
        problem=(
            f"DNS: {hostname} resolves to {', '.join(addresses)}, not to this host ({mine}); "
            f"and over HTTP {http_problem}"
        ),
    )


class Verifier:
    def __init__(
        self,
        *,
        http_port: int,
        own_addresses: Callable[[], set[str]],
        tokens: Tokens,
        dns_server: tuple[str, int] | None = None,
    ) -> None:
        self.http_port = http_port
        self.own_addresses = own_addresses
        self.tokens = tokens
        self.dns_server = dns_server

    async def check(self, hostname: str) -> Verdict:
        try:
            addresses = await dns.resolve(hostname, self.dns_server)
        except dns.DnsError as exc:
            return Verdict(False, problem=f"DNS: looking up {hostname} failed: {exc}")
        own = self.own_addresses()
        verdict = dns_verdict(hostname, addresses, own)
        if verdict is not None:
            return verdict
        problem = "the verification token was not served"
        for address in addresses[:MAX_HTTP_TRIES]:
            problem = await self.fetch_token(hostname, address)
            if not problem:
                return Verdict(True, method="http")
        return not_here(hostname, addresses, own, problem)

    async def fetch_token(self, hostname: str, address: str) -> str:
        """'' when ``address`` serves this router's token for ``hostname``; else what went wrong."""
        try:
            response = await http1.request(
                address, self.http_port, "GET", VERIFY_PATH, host=hostname, timeout=HTTP_TIMEOUT
            )
        except http1.HttpError as exc:
            return f"{address}:{self.http_port} did not answer ({exc})"
        if response.status == 200 and hmac.compare_digest(response.text.strip(), self.tokens(hostname)):
            return ""
        return f"{address}:{self.http_port} answered, but not with this host's token (status {response.status})"
