"""Per-app log budgets and drop notices (pure)."""

from __future__ import annotations

import pytest
from berth_agent.logs.decide_batch import format_nanos
from berth_agent.logs.decide_budget import Gate, TokenBucket, dropped_text, lost_notice
from berth_agent.logs.decide_frames import CollectedLine
from berth_shared.errors import ValidationFailed
from berth_shared.log_budget import LogBudget, log_budget

START = 1_796_000_000 * 1_000_000_000


def at(offset_nanos: int, n: int, stream: str = "stdout") -> CollectedLine:
    return CollectedLine(stream, format_nanos(START + offset_nanos), f"line {n}")


def flood(gate: Gate, count: int, per_second: int, stream: str = "stdout") -> list[CollectedLine]:
    kept: list[CollectedLine] = []
    for n in range(count):
        kept.extend(gate.offer(at(n * 1_000_000_000 // per_second, n, stream)))
    return kept + gate.finish()


def test_within_budget_every_line_is_kept_and_nothing_is_said() -> None:
    gate = Gate(TokenBucket(rate=1000, burst=1000))
    kept = flood(gate, 5000, per_second=900)
    assert [line.message for line in kept] == [f"line {n}" for n in range(5000)]
    assert gate.dropped == 0


def test_a_burst_is_allowed_then_the_excess_is_dropped_and_counted_in_notices() -> None:
    gate = Gate(TokenBucket(rate=1000, burst=2000))
    written = 30_000
    kept = flood(gate, written, per_second=10_000)  # 3 s at 10x the budget
    notices = [line for line in kept if line.dropped]
    lines = [line for line in kept if not line.dropped]
    assert lines[:2000] == [at(n * 100_000, n) for n in range(2000)]  # the burst, whole
    assert len(lines) + sum(n.dropped for n in notices) == written
    assert 4000 <= len(lines) <= 5100  # burst + up to 3 s at the rate
    assert 2 <= len(notices) <= 4  # about one a second while the drops go on, never one per kept line
    assert all(n.message == dropped_text(n.dropped, 1000) for n in notices)
    assert notices[0].message.startswith("berth: dropped ") and "faster than 1000 lines/s" in notices[0].message


def test_a_sustained_flood_keeps_runs_of_consecutive_lines_with_one_notice_between_runs() -> None:
    gate = Gate(TokenBucket(rate=1000, burst=2000))
    kept = flood(gate, 100_000, per_second=20_000)  # 5 s at 20x the budget
    notices = [i for i, line in enumerate(kept) if line.dropped]
    assert len(notices) <= 6  # one between each run of kept lines, and one at the end
    runs = [kept[a + 1 : b] for a, b in zip([-1, *notices], [*notices, len(kept)], strict=True)]
    for run in (r for r in runs if r):
        numbers = [int(line.message.split()[1]) for line in run]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # consecutive
        assert len(numbers) >= 1000  # a second's worth, not every n-th line
    assert sum(kept[i].dropped for i in notices) + len(kept) - len(notices) == 100_000


def test_a_notice_takes_the_place_of_a_dropped_line_so_no_stored_line_shares_its_key() -> None:
    gate = Gate(TokenBucket(rate=1, burst=1))
    first = gate.offer(at(0, 0))
    dropped = [gate.offer(at(n * 1000, n)) for n in (1, 2)]
    after = gate.offer(at(2_000_000_000, 3))
    assert first == [at(0, 0)] and dropped == [[], []]
    notice, line = after
    assert (notice.ts, notice.seq, notice.dropped) == (at(2000, 2).ts, 0, 2)
    assert notice.message == "berth: dropped 2 lines (app wrote faster than 1 lines/s)"
    assert line == at(2_000_000_000, 3)


def test_streams_are_counted_apart_and_the_bucket_is_shared() -> None:
    bucket = TokenBucket(rate=1, burst=1)
    a, b = Gate(bucket), Gate(bucket)  # two containers of one app
    assert a.offer(at(0, 0)) == [at(0, 0)]
    assert b.offer(at(1, 1, "stderr")) == []  # the app's budget is spent
    assert a.offer(at(2, 2)) == []
    assert [(n.stream, n.dropped) for n in a.finish() + b.finish()] == [("stdout", 1), ("stderr", 1)]
    assert a.finish() == []


def test_lost_notice_sits_before_the_first_line_kept() -> None:
    first = at(5_000_000_000, 9)
    notice = lost_notice("stdout", at(0, 0).ts, first)
    assert notice.position < first.position and notice.lost
    assert (
        notice.message
        == f"berth: lines lost between {at(0, 0).ts} and {first.ts} (the engine rotated its log before Berth read them)"
    )


def test_the_budget_comes_from_the_environment() -> None:
    assert log_budget({}) == LogBudget(5000, 20000)
    assert log_budget({"BERTH_LOG_LINES_PER_SECOND": "100"}) == LogBudget(100, 20000)
    assert log_budget({"BERTH_LOG_LINES_PER_SECOND": "50000"}) == LogBudget(50000, 50000)
    assert log_budget({"BERTH_LOG_BURST_LINES": "10"}) == LogBudget(5000, 5000)
    with pytest.raises(ValidationFailed, match="BERTH_LOG_LINES_PER_SECOND"):
        log_budget({"BERTH_LOG_LINES_PER_SECOND": "-3"})
