"""Batching collected lines and moving the cursor (pure)."""

from __future__ import annotations

import msgspec
from berth_agent.logs.decide_batch import (
    CROSS_STREAM_MARGIN_NANOS,
    Batcher,
    Progress,
    batch_limit,
    encoded_size,
    fit_line,
    format_nanos,
    message_id,
)
from berth_agent.logs.decide_frames import CollectedLine, Position, ts_nanos
from berth_shared.contracts.logs import LogLine

T1 = "2026-12-01T14:39:19.216769763Z"
T2 = "2026-12-01T14:39:21.000000000Z"


def line(n: int, stream: str = "stdout", ts: str = T1, text: str = "") -> CollectedLine:
    return CollectedLine(stream, ts, text or f"line {n}", seq=n)


def test_flushes_at_200_lines_and_keeps_streams_apart_in_order() -> None:
    batcher = Batcher()
    for n in range(199):
        batcher.add(line(n, "stderr" if n % 3 == 0 else "stdout"), now=0.0)
    assert not batcher.due(0.0)
    batcher.add(line(199), now=0.0)
    assert batcher.due(0.0)
    batches = batcher.take()
    assert [b.stream for b in batches] == ["stdout", "stderr"]
    assert [ln.seq for ln in batches[0].lines] == [n for n in range(200) if n % 3]
    assert [ln.seq for ln in batches[1].lines] == [n for n in range(200) if n % 3 == 0]
    assert len(batcher) == 0 and batcher.deadline is None


def test_flushes_after_200ms_of_the_oldest_line() -> None:
    batcher = Batcher()
    batcher.add(line(0), now=10.0)
    batcher.add(line(1), now=10.15)
    assert batcher.deadline == 10.2
    assert not batcher.due(10.19) and batcher.due(10.2)


def test_batches_stay_under_the_byte_limit() -> None:
    batcher = Batcher(max_bytes=10_000)
    for n in range(6):
        batcher.add(line(n, text="x" * 3000), now=0.0)
    assert batcher.full()
    batches = batcher.take()
    assert [len(b.lines) for b in batches] == [3, 3]
    assert all(sum(encoded_size(ln) for ln in b.lines) <= 10_000 for b in batches)


def test_a_line_whose_json_cannot_fit_is_cut_to_fit() -> None:
    control = LogLine(ts=T1, message="\x01" * 100_000)  # 6 bytes each as JSON
    fitted = fit_line(control, 50_000)
    assert encoded_size(fitted) <= 50_000 and fitted.message and fitted.ts == T1
    small = LogLine(ts=T1, message="ok")
    assert fit_line(small, 50_000) is small
    assert batch_limit(1024 * 1024) < 1024 * 1024 and batch_limit(64 * 1024 * 1024) <= 2 * 1024 * 1024


def test_a_100k_line_travels_whole() -> None:
    batcher = Batcher(max_bytes=batch_limit(1024 * 1024))
    batcher.add(line(0, text="x" * 102_400), now=0.0)
    (batch,) = batcher.take()
    assert batch.lines[0].message == "x" * 102_400


def test_message_id_is_container_stream_first_ts_and_seq_when_repeated() -> None:
    assert message_id("c1", "stdout", LogLine(ts=T1, message="", seq=0)) == f"c1:stdout:{T1}"
    assert message_id("c1", "stdout", LogLine(ts=T1, message="", seq=200)) == f"c1:stdout:{T1}:200"


def test_progress_moves_per_stream_and_since_waits_for_both() -> None:
    progress = Progress()
    progress.published([line(0, "stdout"), line(1, "stdout")])
    assert progress.cursors == {"stdout": Position.of(T1, 1)}
    assert progress.since() == 0  # stderr never collected: read from the start
    progress.read_up_to(T2, pending=lambda stream: False)
    floor = ts_nanos(T2) - CROSS_STREAM_MARGIN_NANOS
    assert progress.cursors["stderr"] == Position(floor, -1, format_nanos(floor))
    assert progress.cursors["stdout"] == Position(floor, -1, format_nanos(floor))  # T1 is older still
    assert progress.since() == floor // 1_000_000_000
    # A stream with a partial line pending keeps its cursor: the line's first frame is behind.
    held = Progress({"stdout": Position.of(T1, 0)})
    held.read_up_to(T2, pending=lambda stream: stream == "stdout")
    assert held.cursors["stdout"] == Position.of(T1, 0)
    assert held.since() == ts_nanos(T1) // 1_000_000_000


def test_progress_never_moves_back() -> None:
    progress = Progress({"stdout": Position.of(T2, 3), "stderr": Position.of(T2, 0)})
    progress.published([line(9, "stdout", ts=T1)])
    progress.read_up_to(T1, pending=lambda stream: False)
    assert progress.cursors == {"stdout": Position.of(T2, 3), "stderr": Position.of(T2, 0)}


def test_format_nanos_round_trips() -> None:
    assert format_nanos(ts_nanos(T1)) == T1
    assert msgspec.json.decode(msgspec.json.encode(LogLine(ts=T1, message="a")), type=LogLine).ts == T1
