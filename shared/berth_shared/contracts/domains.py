"""Domains family: the router's view of each attached hostname — verification and certificate.

The API owns which hostnames are attached (it sends the full list on ``AppUpdated.domains``).
The router checks that each public hostname points at this host, lets Caddy obtain its
certificate, and publishes ``DomainStatusChanged`` on ``berth.evt.router.domain.<app_id>``
(BERTH_EVT) whenever the verification or certificate state of a hostname changes. The API keeps
the latest state per hostname (newer ``at`` wins) for ``GET /api/apps/{id}/domains``, and repairs
a lost event from ``berth.rpc.router.domains.list`` (every hostname's state, ADR 0018).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from berth_shared.contracts.base import Message

DOMAIN_EVENTS = "berth.evt.router.domain.>"

TlsState = Literal["pending", "issued", "failed"]
Issuer = Literal["internal", "acme"]
VerifyMethod = Literal["dns", "http"]

# Top-level names that never resolve publicly: Caddy's internal CA certifies them.
LOCAL_TLDS = ("localhost", "test")


def domain_subject(app_id: str) -> str:
    return f"berth.evt.router.domain.{app_id}"


def is_local_name(hostname: str) -> bool:
    """Names no public CA will certify (``*.test``, ``*.localhost``)."""
    return any(hostname == tld or hostname.endswith(f".{tld}") for tld in LOCAL_TLDS)


def issuer_for(hostname: str, *, tls_internal: bool) -> Issuer:
    """Who certifies ``hostname``: the internal CA for local names (or all, ``BERTH_TLS=internal``)."""
    return "internal" if tls_internal or is_local_name(hostname) else "acme"


class DomainStatusChanged(Message, kw_only=True):
    app_id: str
    hostname: str
    issuer: Issuer
    # When the router last confirmed the name points here (None: not yet / not needed).
    verified_at: datetime | None = None
    verify_method: VerifyMethod | None = None
    tls_state: TlsState = "pending"
    # Why verification or issuance failed, in words a user can act on.
    reason: str | None = None
    # The last verification attempt (None: none yet / not needed for internal names).
    checked_at: datetime | None = None


# Every attached hostname's current state, from the router's ``domain_status`` (ADR 0018): the
# API asks it to repair a lost ``DomainStatusChanged``. Only the API asks; only the router answers.
DOMAIN_STATES_LIST = "berth.rpc.router.domains.list"


class ListDomainStates(Message, kw_only=True):
    # Who asks (for the router's log only).
    requester: str = ""


class DomainState(msgspec.Struct, kw_only=True):
    """One attached hostname as the router holds it: what ``DomainStatusChanged`` would say,
    ``changed_at`` being that event's ``at`` (the last change; a newer one wins)."""

    app_id: str
    hostname: str
    issuer: Issuer
    verified_at: datetime | None = None
    verify_method: VerifyMethod | None = None
    tls_state: TlsState = "pending"
    reason: str | None = None
    checked_at: datetime | None = None
    changed_at: datetime
    # The row's version (the event of this state carries it in its message id).
    version: int = 0


class DomainStates(Message, kw_only=True):
    """Every hostname the router holds; ``at`` is when it read them."""

    domains: list[DomainState] = []
