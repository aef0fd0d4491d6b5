"""Seeing a skip of the engine's follower in the lines' timestamps (pure)."""

from __future__ import annotations

from berth_agent.logs.decide_skips import SkipDetector

S = 1_000_000_000
T0 = 1_796_000_000 * S


def feed(detector: SkipDetector, stamps: list[int], now: int) -> list[int]:
    return [n for n in stamps if detector.check(n, now) is not None]


def flood(start: int, count: int = 2000, step: int = 10_000) -> list[int]:
    return [start + i * step for i in range(count)]  # 100,000 lines/s


def test_a_jump_inside_a_flood_read_behind_is_a_possible_skip() -> None:
    detector = SkipDetector()
    first, after = flood(T0), flood(T0 + 3 * S)
    assert feed(detector, first + after, now=T0 + 10 * S) == [after[0]]
    again = SkipDetector()
    assert [again.check(n, T0 + 10 * S) for n in first + after[:1]][-1] == first[-1]  # the line before


def test_no_skip_when_the_reader_keeps_up_or_the_app_is_no_flood_or_nothing_jumps() -> None:
    live = SkipDetector()  # reading as it is written: nothing can have been skipped
    assert feed(live, flood(T0) + flood(T0 + 3 * S), now=T0 + 3 * S + S // 2) == []
    burst = SkipDetector()  # a stack trace now and then, read long after (an agent restart)
    traces = [T0 + k * S + i * 1000 for k in range(10) for i in range(80)]
    assert feed(burst, traces, now=T0 + 60 * S) == []
    steady = SkipDetector()  # a flood read behind, without a jump
    assert feed(steady, flood(T0, 5000), now=T0 + 60 * S) == []
