"""Where a webhook URL leads: its host resolved once and every address checked against
:mod:`berth_shared.addresses`. The API checks at creation; the health service checks again at
each delivery and connects to the very address checked here (a name that changes its answer
between the check and the connection cannot move the request elsewhere)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from berth_shared import addresses, dns

DNS_SERVER_SETTING = "BERTH_DNS_SERVER"
RESOLVE_TIMEOUT = 3.0


class TargetRefused(Exception):
    """The URL leads somewhere webhooks may not go (the policy said no): never retried."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TargetUnresolved(Exception):
    """The host could not be resolved now (timeout, DNS error): may work later."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TargetPolicy:
    allow_private: bool = False
    dns_server: tuple[str, int] | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TargetPolicy:
        """``BERTH_ALLOW_PRIVATE_WEBHOOKS`` and ``BERTH_DNS_SERVER``; raises ValueError naming a bad one."""
        env = os.environ if env is None else env
        allow = addresses.parse_allow_private(env.get(addresses.ALLOW_PRIVATE_SETTING, ""))
        server_text = env.get(DNS_SERVER_SETTING, "")
        server = dns.parse_server(server_text) if server_text.strip() else None
        return cls(allow_private=allow, dns_server=server)


@dataclass(frozen=True)
class Target:
    """A checked destination: connect to ``address``, name ``host`` (Host header, TLS SNI and
    certificate verification)."""

    scheme: str
    host: str
    port: int
    address: str


def split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an absolute http(s) URL; ValueError otherwise."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL")
    try:
        explicit = parts.port
    except ValueError:
        raise ValueError("has an invalid port (1-65535)") from None
    if explicit == 0:
        raise ValueError("has an invalid port (1-65535)")
    port = explicit or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname.rstrip(".") or parts.hostname, port


async def resolve_target(url: str, policy: TargetPolicy, timeout: float = RESOLVE_TIMEOUT) -> Target:
    """Resolve the URL's host once and check every address. Raises TargetRefused (policy, or a
    URL that is not a valid target) or TargetUnresolved (DNS failed for now)."""
    try:
        scheme, host, port = split_url(url)
        literal = addresses.literal_address(host)
    except ValueError as exc:
        raise TargetRefused(str(exc)) from None
    if literal is not None:
        found = [str(literal)]
        host = str(literal)
    else:
        try:
            found = await dns.resolve(host, policy.dns_server, timeout)
        except dns.DnsError as exc:
            raise TargetUnresolved(f"cannot resolve {host}: {exc.reason}") from None
        except ValueError as exc:
            raise TargetRefused(str(exc)) from None
    reason = addresses.refusal(host, found, allow_private=policy.allow_private)
    if reason is not None:
        if not found:
            raise TargetUnresolved(reason)
        raise TargetRefused(reason)
    return Target(scheme=scheme, host=host, port=port, address=found[0])
