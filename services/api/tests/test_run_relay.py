"""The relay's memory of an attached run's output: bounded to 1 MiB (oldest chunks dropped, so a
reader sees the gap in seq), read from any seq, ended by the last chunk, forgotten 5 minutes
after the end (ADR 0026 §5)."""

from __future__ import annotations

from typing import Any

from berth_api.run_relay import KEEP_AFTER_END, MAX_BYTES, Output, RunRelay
from berth_shared.contracts.runs import RunOutput


def chunk(seq: int, size: int = 10, *, eof: bool = False) -> RunOutput:
    return RunOutput(run_id="r", seq=seq, data=b"x" * size, eof=eof)


def test_output_is_bounded_by_dropping_the_oldest_chunks() -> None:
    out = Output()
    for seq in range(5):
        out.add(chunk(seq, MAX_BYTES // 4))
    assert [c.seq for c in out.chunks] == [1, 2, 3, 4] and out.size <= MAX_BYTES
    assert [c.seq for c in out.after(2)] == [3, 4]


async def test_a_reader_gets_everything_after_its_seq_up_to_the_last_chunk() -> None:
    relay: Any = RunRelay(nc=None)  # type: ignore[arg-type]
    out = relay.runs["r"] = Output()
    for seq in range(3):
        out.add(chunk(seq))
    out.add(chunk(3, 0, eof=True))
    out.add(chunk(4))  # after the end: ignored
    assert [c.seq async for c in relay.follow("r", 0)] == [1, 2, 3]


def test_ended_output_is_forgotten_after_five_minutes() -> None:
    relay: Any = RunRelay(nc=None)  # type: ignore[arg-type]
    out = relay.runs["r"] = Output()
    out.add(chunk(0, eof=True))
    assert out.ended_at is not None
    relay.forget_expired(now=out.ended_at + KEEP_AFTER_END - 1)
    assert relay.known("r")
    relay.forget_expired(now=out.ended_at + KEEP_AFTER_END + 1)
    assert not relay.known("r")
