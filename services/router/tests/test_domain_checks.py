"""The domain loop's decisions: verify first, then wait for the certificate; retry failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from berth_router.domain_checks import (
    ISSUED_RECHECK,
    MAX_RETRY,
    PENDING_RECHECK,
    DomainState,
    Verdict,
    after_certificate_check,
    after_verification,
    needs_verification,
    retry_delay,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PUBLIC = DomainState(hostname="shop.example.com", app_id="app1", issuer="acme")
LOCAL = DomainState(hostname="shop.example.test", app_id="app1", issuer="internal")


def test_only_public_names_not_yet_verified_need_verification() -> None:
    assert needs_verification(PUBLIC)
    assert not needs_verification(LOCAL)
    assert not needs_verification(after_verification(PUBLIC, Verdict(True, method="dns"), NOW))


def test_a_verified_name_is_pending_and_checked_again_at_once() -> None:
    failed_before = after_verification(PUBLIC, Verdict(False, problem="DNS: nope"), NOW)
    state = after_verification(failed_before, Verdict(True, method="http"), NOW)
    assert (state.verified_at, state.verify_method, state.tls_state, state.reason) == (NOW, "http", "pending", None)
    assert (state.failures, state.next_check_at, state.checked_at) == (0, NOW, NOW)


def test_a_failed_verification_says_why_and_backs_off() -> None:
    first = after_verification(PUBLIC, Verdict(False, problem="DNS: shop.example.com has no A/AAAA record"), NOW)
    assert (first.tls_state, first.reason, first.verified_at) == (
        "failed",
        "DNS: shop.example.com has no A/AAAA record",
        None,
    )
    assert first.next_check_at == NOW + timedelta(seconds=10)
    second = after_verification(first, Verdict(False, problem="again"), NOW)
    assert second.failures == 2 and second.next_check_at == NOW + timedelta(seconds=20)


def test_retries_grow_to_ten_minutes_and_stay_there() -> None:
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert retry_delay(30) == MAX_RETRY == timedelta(minutes=10)


def test_a_certificate_in_storage_means_issued_and_a_rare_recheck() -> None:
    state = after_certificate_check(LOCAL, has_certificate=True, tls_error=None, now=NOW)
    assert (state.tls_state, state.reason, state.next_check_at) == ("issued", None, NOW + ISSUED_RECHECK)


def test_no_certificate_yet_is_pending_and_soon_checked_again() -> None:
    state = after_certificate_check(LOCAL, has_certificate=False, tls_error=None, now=NOW)
    assert (state.tls_state, state.next_check_at) == ("pending", NOW + PENDING_RECHECK)


def test_an_error_from_the_ca_fails_with_its_words_and_backs_off() -> None:
    verified = after_verification(PUBLIC, Verdict(True, method="dns"), NOW)
    state = after_certificate_check(verified, has_certificate=False, tls_error="rejectedIdentifier", now=NOW)
    assert (state.tls_state, state.reason) == ("failed", "certificate: rejectedIdentifier")
    assert state.verified_at == NOW  # the name still leads here; only the CA said no
    assert state.next_check_at == NOW + timedelta(seconds=10)
    # A certificate that arrives later wins over the old error.
    assert after_certificate_check(state, has_certificate=True, tls_error=None, now=NOW).tls_state == "issued"


def test_what_users_see_excludes_the_schedule() -> None:
    rescheduled = after_certificate_check(LOCAL, has_certificate=False, tls_error=None, now=NOW + timedelta(hours=1))
    assert (
        rescheduled.public_fields()
        == after_certificate_check(LOCAL, has_certificate=False, tls_error=None, now=NOW).public_fields()
    )
