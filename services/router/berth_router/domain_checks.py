"""What the router does next for one attached hostname: pure decisions on its state.

A public name is verified first (it must lead to this host), then Caddy is nudged to obtain
its certificate on demand, then the router watches for the certificate in Caddy's storage.
A local name (internal CA) needs no verification. Failures are retried with a growing delay,
so a name whose DNS is fixed later gets its certificate without anyone touching it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from berth_shared.contracts.domains import Issuer, TlsState, VerifyMethod

# Waiting for a certificate being obtained right now.
PENDING_RECHECK = timedelta(seconds=2)
# A name holding its certificate: look again now and then (Caddy renews; a removed file shows).
ISSUED_RECHECK = timedelta(minutes=5)
FIRST_RETRY = timedelta(seconds=10)
MAX_RETRY = timedelta(minutes=10)


@dataclass(frozen=True)
class DomainState:
    hostname: str
    app_id: str
    issuer: Issuer
    verified_at: datetime | None = None
    verify_method: VerifyMethod | None = None
    tls_state: TlsState = "pending"
    reason: str | None = None
    checked_at: datetime | None = None
    failures: int = 0
    next_check_at: datetime | None = None

    def public_fields(self) -> tuple[object, ...]:
        """What users see: a change here is announced (the schedule is not)."""
        return (self.app_id, self.issuer, self.verified_at, self.verify_method, self.tls_state, self.reason)


@dataclass(frozen=True)
class Verdict:
    """Whether the name leads to this host, how that was shown, or why not."""

    ok: bool
    method: VerifyMethod | None = None
    problem: str | None = None


def retry_delay(failures: int) -> timedelta:
    """10 s, 20 s, 40 s ... up to 10 minutes."""
    delay: timedelta = FIRST_RETRY * (2 ** max(failures - 1, 0))
    return min(delay, MAX_RETRY)


def needs_verification(state: DomainState) -> bool:
    return state.issuer == "acme" and state.verified_at is None


def after_verification(state: DomainState, verdict: Verdict, now: datetime) -> DomainState:
    if verdict.ok:
        return replace(
            state,
            verified_at=now,
            verify_method=verdict.method,
            tls_state="pending",
            reason=None,
            checked_at=now,
            failures=0,
            next_check_at=now,
        )
    failures = state.failures + 1
    return replace(
        state,
        tls_state="failed",
        reason=verdict.problem,
        checked_at=now,
        failures=failures,
        next_check_at=now + retry_delay(failures),
    )


def after_certificate_check(
    state: DomainState, *, has_certificate: bool, tls_error: str | None, now: datetime
) -> DomainState:
    """The certificate is there (issued), failed to come (``tls_error`` from Caddy), or is coming."""
    if has_certificate:
        return replace(state, tls_state="issued", reason=None, failures=0, next_check_at=now + ISSUED_RECHECK)
    if tls_error is not None:
        failures = state.failures + 1
        return replace(
            state,
            tls_state="failed",
            reason=f"certificate: {tls_error}",
            failures=failures,
            next_check_at=now + retry_delay(failures),
        )
    return replace(state, tls_state="pending", reason=None, next_check_at=now + PENDING_RECHECK)
