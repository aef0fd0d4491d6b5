"""The schedule never drifts and never bursts; payloads and signatures are what receivers verify."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from berth_health import signing
from berth_health.schedule import Schedule
from berth_shared.contracts.health import describe_expected, status_matches
from berth_shared.http1 import parse_status_line


def test_next_due_is_previous_due_plus_interval_however_late_the_check_ran() -> None:
    s = Schedule()
    s.add("a", 10, first_due=3.0)
    assert s.pop_due(2.9) == []
    assert s.pop_due(3.4) == [("a", 3.0)]  # ran 0.4 s late
    assert s.due_of("a") == 13.0  # not 13.4: no drift
    assert s.pop_due(13.05) == [("a", 13.0)]
    assert s.due_of("a") == 23.0


def test_a_schedule_far_behind_skips_missed_runs_keeping_its_phase() -> None:
    s = Schedule()
    s.add("a", 1, first_due=0.5)
    assert s.pop_due(5.2) == [("a", 0.5)]
    assert s.due_of("a") == 5.5 and s.skipped == 4


def test_many_keys_come_out_in_due_order_and_removed_keys_never() -> None:
    s = Schedule()
    for i in range(100):
        s.add(f"k{i}", 5, first_due=i * 0.05)
    s.remove("k3")
    due = s.pop_due(1.0)
    assert [k for k, _ in due] == [f"k{i}" for i in range(21) if i != 3]
    assert "k3" not in s and len(s) == 99


def test_changing_the_interval_keeps_the_next_due_time() -> None:
    s = Schedule()
    s.add("a", 10, first_due=1.0)
    s.pop_due(1.0)
    s.set_interval("a", 2)
    assert s.pop_due(11.0) == [("a", 11.0)]
    assert s.due_of("a") == 13.0
    with pytest.raises(ValueError):
        s.add("b", 0, first_due=0)


@pytest.mark.parametrize(
    ("status", "expected", "ok"),
    [
        (200, 0, True),
        (302, 0, True),
        (404, 0, False),
        (500, 0, False),
        (204, 2, True),
        (301, 2, False),
        (200, 200, True),
        (204, 200, False),
        (503, 503, True),
    ],
)
def test_expected_status(status: int, expected: int, ok: bool) -> None:
    assert status_matches(status, expected) is ok


def test_expected_status_is_described_for_humans() -> None:
    assert describe_expected(0) == "a status in [200, 400)"
    assert describe_expected(2) == "a 2xx status"
    assert describe_expected(204) == "status 204"


def test_status_lines() -> None:
    assert parse_status_line(b"HTTP/1.1 200 OK\r\n") == 200
    assert parse_status_line(b"HTTP/1.0 500 Sick\r\n") == 500
    assert parse_status_line(b"SSH-2.0-OpenSSH\r\n") is None
    assert parse_status_line(b"HTTP/1.1 abc\r\n") is None


def test_payload_shape_and_signature_verify_with_the_secret() -> None:
    body = signing.payload("health.unhealthy", "id1", "web", {"reason": "HTTP 500", "app": "x"}, "2024-01-01T00:00:00Z")
    data = json.loads(body)
    assert data == {
        "event": "health.unhealthy",
        "app": {"id": "id1", "name": "web"},
        "reason": "HTTP 500",
        "timestamp": "2024-01-01T00:00:00Z",
    }
    secret = signing.new_secret()
    sig = signing.sign(secret, body)
    assert sig == "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert signing.verify(secret, body, sig)
    assert not signing.verify(secret, body + b" ", sig)
    assert not signing.verify(signing.new_secret(), body, sig)


def test_backoff_doubles_and_is_capped() -> None:
    assert [signing.backoff_seconds(n, 2) for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert signing.backoff_seconds(20, 2) == 300
