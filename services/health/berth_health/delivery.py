"""How one webhook delivery goes out: to the address that was checked, never re-resolved
(pure). The URL's host is replaced by that address; the name stays in the Host header and, for
HTTPS, in the TLS server name that the certificate is verified against."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx
from berth_shared.webhook_targets import Target


@dataclass(frozen=True)
class PinnedRequest:
    url: str
    headers: dict[str, str]
    extensions: dict[str, str] = field(default_factory=dict)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def pinned_request(url: str, target: Target) -> PinnedRequest:
    """The request that reaches ``target.address`` for ``url`` as if ``target.host`` had been
    resolved by the client: same path, query, port and credentials; Host (and SNI) the name."""
    parts = urlsplit(url)
    default_port = 443 if target.scheme == "https" else 80
    port_suffix = "" if target.port == default_port else f":{target.port}"
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (f"{userinfo}@" if userinfo else "") + _bracketed(target.address) + f":{target.port}"
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    headers = {"Host": _bracketed(target.host) + port_suffix}
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return PinnedRequest(url=pinned, headers=headers, extensions=extensions)


def describe_failure(exc: httpx.HTTPError) -> str:
    """What a failed attempt records: the kind of failure, never text the receiver sent (a
    malformed answer's bytes would otherwise be shown back through the API)."""
    if isinstance(exc, httpx.TimeoutException):
        return f"{type(exc).__name__}: no answer within the timeout"
    if isinstance(exc, httpx.ConnectError):
        return f"ConnectError: {exc}" if str(exc) else "ConnectError: could not connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "RemoteProtocolError: the receiver's answer was not valid HTTP"
    return type(exc).__name__
