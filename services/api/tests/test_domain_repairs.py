"""Which domain states the API missed (pure): a newer state of a hostname it holds for the same
app, as its consumer would apply it; never an older one, a detached name or another app's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from berth_api.domain_repairs import event_of, missed_states
from berth_shared.contracts.domains import DomainState, DomainStates

APP = "8b0a2b8e-3a59-4c43-9a3c-5b1f1f5f0a01"
OTHER = "8b0a2b8e-3a59-4c43-9a3c-5b1f1f5f0a02"
T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def issued(hostname: str = "shop.example.test", app_id: str = APP, changed_at: datetime = T0) -> DomainState:
    return DomainState(
        app_id=app_id, hostname=hostname, issuer="internal", tls_state="issued", changed_at=changed_at, version=3
    )


def test_a_state_the_api_never_received_is_repaired_as_the_event_the_router_sent() -> None:
    (repair,) = missed_states({(APP, "shop.example.test"): None}, DomainStates(domains=[issued()]))
    assert (repair.app_id, repair.hostname, repair.tls_state, repair.issuer) == (
        APP,
        "shop.example.test",
        "issued",
        "internal",
    )
    assert repair.at == T0  # the consumer's "newer wins" compares this with what it holds


def test_a_state_newer_than_the_one_held_is_repaired() -> None:
    held = {(APP, "shop.example.test"): T0 - timedelta(seconds=1)}
    assert [r.tls_state for r in missed_states(held, DomainStates(domains=[issued()]))] == ["issued"]


def test_a_state_the_api_already_holds_or_an_older_one_changes_nothing() -> None:
    states = DomainStates(domains=[issued()])
    assert missed_states({(APP, "shop.example.test"): T0}, states) == []
    assert missed_states({(APP, "shop.example.test"): T0 + timedelta(seconds=1)}, states) == []


def test_hostnames_the_api_does_not_hold_for_that_app_are_left_alone() -> None:
    states = DomainStates(domains=[issued("gone.example.test"), issued("moved.example.test", app_id=OTHER)])
    held = {(APP, "moved.example.test"): None, (APP, "kept.example.test"): None}
    assert missed_states(held, states) == []


def test_a_failure_is_repaired_with_its_reason_and_verification() -> None:
    failed = DomainState(
        app_id=APP,
        hostname="www.example.com",
        issuer="acme",
        verified_at=T0 - timedelta(minutes=5),
        verify_method="http",
        tls_state="failed",
        reason="certificate: rate limited",
        checked_at=T0,
        changed_at=T0,
        version=7,
    )
    (repair,) = missed_states({(APP, "www.example.com"): T0 - timedelta(hours=1)}, DomainStates(domains=[failed]))
    assert (repair.tls_state, repair.reason, repair.verify_method) == ("failed", "certificate: rate limited", "http")
    assert (repair.verified_at, repair.checked_at) == (T0 - timedelta(minutes=5), T0)


def test_the_repair_id_follows_the_state_so_a_second_pass_records_the_same_entry() -> None:
    assert event_of(issued()).id == event_of(issued()).id
    assert event_of(issued()).id != event_of(issued(changed_at=T0 + timedelta(seconds=1))).id
