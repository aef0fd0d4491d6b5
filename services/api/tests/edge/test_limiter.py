"""The failed-authentication limiter on a scripted clock: when lockouts start, how long they
last, how they double and are forgiven, and that memory stays bounded."""

from __future__ import annotations

import pytest
from berth_api.edge.limiter import FailureLimiter, Limits, Lockout


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(**limits: float) -> tuple[FailureLimiter, Clock]:
    clock = Clock()
    return FailureLimiter(Limits(**limits), clock=clock), clock  # type: ignore[arg-type]


# (seconds since start of each failure) -> index of the failure that starts a lockout, or None
SPREADS = [
    ("ten failures in a minute are allowed", [i * 5.0 for i in range(10)], None),
    ("the eleventh within a minute locks out", [i * 5.0 for i in range(11)], 10),
    ("a burst of eleven locks out", [0.0] * 11, 10),
    ("failures spread over more than a minute never do", [i * 6.5 for i in range(30)], None),
    ("old failures fall out of the window", [0.0] * 10 + [61.0] * 10, None),
    ("the window slides", [0.0] * 5 + [30.0] * 5 + [59.0], 10),
]


@pytest.mark.parametrize(("times", "locks_at"), [(t, i) for _, t, i in SPREADS], ids=[s[0] for s in SPREADS])
def test_more_than_ten_failures_within_a_minute_lock_the_client_out(times: list[float], locks_at: int | None) -> None:
    lim, clock = limiter()
    start = clock.now
    lockouts = []
    for i, t in enumerate(times):
        clock.now = start + t
        if lim.failure("a") is not None:
            lockouts.append(i)
    assert lockouts == ([] if locks_at is None else [locks_at])


def test_a_lockout_lasts_a_minute_and_is_reported_once() -> None:
    lim, clock = limiter()
    results = [lim.failure("a") for _ in range(11)]
    assert results[:10] == [None] * 10
    assert results[10] == Lockout(client="a", seconds=60, failures=11, level=1)
    assert lim.retry_after("a") == 60
    clock.now += 59.5
    assert lim.retry_after("a") == 1
    assert lim.failure("a") is None  # failures while locked out start nothing new
    clock.now += 0.5
    assert lim.retry_after("a") is None
    assert lim.retry_after("b") is None  # other clients are not affected


# failures keep coming right after each lockout ends -> each lockout's length
DOUBLING = [
    ("doubles while failures go on", Limits(), [60, 120, 240, 480, 960, 1920, 3600, 3600]),
    ("capped at the maximum", Limits(max_lockout=200), [60, 120, 200, 200]),
]


@pytest.mark.parametrize(("limits", "expected"), [(lim, e) for _, lim, e in DOUBLING], ids=[d[0] for d in DOUBLING])
def test_lockouts_double_while_failures_go_on(limits: Limits, expected: list[int]) -> None:
    clock = Clock()
    lim = FailureLimiter(limits, clock=clock)
    seen = []
    for _ in expected:
        lockout = None
        while lockout is None:
            lockout = lim.failure("a")
        seen.append(lockout.seconds)
        clock.now += lockout.seconds
    assert seen == expected


def test_an_hour_without_failures_is_forgiven() -> None:
    lim, clock = limiter()
    for _ in range(2):
        for _ in range(11):
            last = lim.failure("a")
        assert last is not None
        clock.now += last.seconds
    assert last.seconds == 120
    clock.now += 3601
    for _ in range(11):
        last = lim.failure("a")
    assert last is not None and (last.seconds, last.level) == (60, 1)


def test_memory_stays_bounded_when_an_attacker_rotates_addresses() -> None:
    lim, _ = limiter(max_clients=100)
    for i in range(10_000):
        lim.failure(f"10.0.{i // 256}.{i % 256}")
    assert len(lim) == 100


def test_the_most_recently_failing_clients_are_the_ones_remembered() -> None:
    lim, _ = limiter(max_clients=3)
    for _ in range(11):
        lim.failure("attacker")
    for name in ("b", "c"):
        lim.failure(name)
    assert lim.retry_after("attacker") is not None
    lim.failure("d")  # a fourth client: the least recently failing one is forgotten
    assert lim.retry_after("attacker") is None
    assert len(lim) == 3
