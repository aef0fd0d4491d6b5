"""Seeing a skip of the engine's follower in the lines' timestamps (pure)."""

from __future__ import annotations

from berth_agent.logs.decide_frames import CollectedLine, Position, Resume
from berth_agent.logs.decide_skips import WINDOW, Skip, SkipDetector

S = 1_000_000_000
MS = 1_000_000
T0 = 1_796_000_000 * S


def feed(detector: SkipDetector[int], stamps: list[int], now: int) -> list[Skip[int]]:
    """Every skip told while reading ``stamps`` at ``now`` (each line is its own timestamp)."""
    return [skip for n in stamps for skip in detector.check(n, now, n)]


def flood(start: int, count: int = 2000, step: int = 10_000) -> list[int]:
    return [start + i * step for i in range(count)]  # 100,000 lines/s


def test_a_jump_inside_a_flood_read_behind_is_a_possible_skip() -> None:
    detector: SkipDetector[int] = SkipDetector()
    first, after = flood(T0), flood(T0 + 3 * S)
    assert feed(detector, first + after, now=T0 + 10 * S) == [Skip(first[-1], after[0])]  # told at once
    again: SkipDetector[int] = SkipDetector()
    assert [again.check(n, T0 + 10 * S, n) for n in first + after[:1]][-1] == (Skip(first[-1], after[0]),)


def test_no_skip_when_the_reader_keeps_up_or_the_app_is_no_flood_or_nothing_jumps() -> None:
    live: SkipDetector[int] = SkipDetector()  # reading as it is written: nothing can have been skipped
    assert feed(live, flood(T0) + flood(T0 + 3 * S), now=T0 + 3 * S + S // 2) == []
    burst: SkipDetector[int] = SkipDetector()  # a stack trace now and then, read long after (an agent restart)
    traces = [T0 + k * S + i * 1000 for k in range(10) for i in range(80)]
    assert feed(burst, traces, now=T0 + 60 * S) == []
    steady: SkipDetector[int] = SkipDetector()  # a flood read behind, without a jump
    assert feed(steady, flood(T0, 5000), now=T0 + 60 * S) == []


def test_a_fresh_container_read_behind_from_the_middle_of_a_flood_tells_a_skip_from_its_start() -> None:
    # The torrent in CI: started at T0, flooding since; the engine rotated the first files away
    # before the collector read anything, so its first line read was written seconds later.
    detector: SkipDetector[int] = SkipDetector(started=T0)
    lines = flood(T0 + 6 * S)
    told = [(i, skip) for i, n in enumerate(lines) for skip in detector.check(n, T0 + 20 * S, n)]
    # Told once the flood after it is seen (WINDOW lines on), as a skip before the first line.
    assert told == [(WINDOW - 1, Skip(T0, lines[0]))]


def test_a_fresh_container_whose_first_line_comes_late_is_no_skip_unless_a_flood_follows() -> None:
    quiet: SkipDetector[int] = SkipDetector(started=T0)  # starts slowly, then a line a second
    assert feed(quiet, [T0 + (5 + k) * S for k in range(30)], now=T0 + 60 * S) == []
    trace: SkipDetector[int] = SkipDetector(started=T0)  # its first words late: a stack trace
    assert feed(trace, [T0 + 5 * S + i * 1000 for i in range(80)] + [T0 + 9 * S], now=T0 + 60 * S) == []
    few: SkipDetector[int] = SkipDetector(started=T0)  # a short read: no evidence, nothing told
    assert feed(few, flood(T0 + 5 * S, WINDOW - 1), now=T0 + 60 * S) == []


def test_a_fresh_container_read_promptly_or_flooding_from_its_start_is_no_skip() -> None:
    prompt: SkipDetector[int] = SkipDetector(started=T0)  # begins flooding late, read as written
    assert feed(prompt, flood(T0 + 5 * S, 5000), now=T0 + 5 * S + S // 2) == []
    at_start: SkipDetector[int] = SkipDetector(started=T0)  # a flood from its start, read long after
    assert feed(at_start, flood(T0 + 10 * MS, 5000), now=T0 + 60 * S) == []


def test_a_resumed_read_leaves_its_start_to_the_cursor() -> None:
    # With a cursor the detector is not given the start: the same lines tell nothing here...
    resumed: SkipDetector[int] = SkipDetector()
    assert feed(resumed, flood(T0 + 6 * S), now=T0 + 20 * S) == []
    # ...and Resume tells the gap when the cursor's line is gone from the engine's ring.
    cursor = Position.of("2026-11-30T12:00:00.000000000Z", 0)
    resume = Resume({"stdout": cursor})
    first = CollectedLine("stdout", "2026-11-30T12:00:06.000000000Z", "t 1147775")
    assert resume.keep(first)
    assert resume.gaps == [("stdout", cursor.ts, first)]


def test_a_skip_before_a_window_of_lines_was_read_is_told_with_the_flood_after_it() -> None:
    # Read from the flood's start, but skipped after 300 lines (the reader stalled on acks).
    detector: SkipDetector[int] = SkipDetector(started=T0)
    head, rest = flood(T0 + 1 * MS, 300), flood(T0 + 4 * S)
    assert feed(detector, head + rest, now=T0 + 30 * S) == [Skip(head[-1], rest[0])]
    # The start itself skipped too (first line read seconds in), then again: both told.
    both: SkipDetector[int] = SkipDetector(started=T0)
    head = flood(T0 + 3 * S, 300)
    assert feed(both, head + rest, now=T0 + 30 * S) == [Skip(T0, head[0]), Skip(head[-1], rest[0])]
    # A resumed read's first lines: the same.
    resumed: SkipDetector[int] = SkipDetector()
    assert feed(resumed, flood(T0, 300) + rest, now=T0 + 30 * S) == [Skip(flood(T0, 300)[-1], rest[0])]


def test_an_early_jump_without_flood_evidence_on_both_sides_is_no_skip() -> None:
    spread: SkipDetector[int] = SkipDetector()  # lines a second apart, then a flood: the app began one
    assert feed(spread, [T0 + k * S for k in range(5)] + flood(T0 + 10 * S), now=T0 + 60 * S) == []
    banner: SkipDetector[int] = SkipDetector(started=T0)  # a few lines at once, a pause, a flood
    assert feed(banner, flood(T0 + 5 * MS, 5) + flood(T0 + 2 * S), now=T0 + 60 * S) == []
    short: SkipDetector[int] = SkipDetector()  # a burst, a pause, another burst: no flood after it
    bursts = flood(T0, 300) + flood(T0 + 2 * S, 300) + [T0 + 5 * S]
    assert feed(short, bursts, now=T0 + 60 * S) == []
    start_broken: SkipDetector[int] = SkipDetector(started=T0)  # first line late; the next only 1 s on
    assert feed(start_broken, [T0 + 5 * S, *flood(T0 + 6 * S)], now=T0 + 60 * S) == []
