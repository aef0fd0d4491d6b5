"""Docker's multiplexed log stream -> lines, on bytes (no Docker needed)."""

from __future__ import annotations

import re
import struct
from datetime import datetime

import pytest
from berth_agent.logs.decide_frames import (
    MAX_FRAME_BYTES,
    NO_TS,
    TRUNCATED_MARK,
    CollectedLine,
    Frame,
    FrameDecoder,
    LineAssembler,
    Position,
    RawDecoder,
    Resume,
    StreamCorrupt,
    cut_utf8,
    fixed_form,
    last_position,
    split_payload,
    ts_nanos,
)

T1 = "2026-12-01T14:39:19.216769763Z"
T2 = "2026-12-01T14:39:19.216863974Z"
T3 = "2026-12-01T14:39:20.000000001Z"


def frame(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BxxxI", kind, len(payload)) + payload


def out(ts: str, text: bytes) -> bytes:
    return frame(1, ts.encode() + b" " + text)


def err(ts: str, text: bytes) -> bytes:
    return frame(2, ts.encode() + b" " + text)


def lines_of(data: bytes, *, chunk: int | None = None, max_line: int | None = None) -> list[CollectedLine]:
    decoder = FrameDecoder()
    assembler = LineAssembler(max_line) if max_line else LineAssembler()
    found: list[CollectedLine] = []
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces:
        for f in decoder.feed(piece):
            found.extend(assembler.feed(f))
    return found


def test_frames_become_lines_with_stream_timestamp_and_no_newline() -> None:
    data = out(T1, b"hello\n") + err(T2, b"oops\n") + out(T3, b"\n")
    assert lines_of(data) == [
        CollectedLine("stdout", T1, "hello"),
        CollectedLine("stderr", T2, "oops"),
        CollectedLine("stdout", T3, ""),  # a blank line is a line
    ]


@pytest.mark.parametrize("chunk", [1, 3, 7, 8, 9, 100])
def test_frames_split_anywhere_across_reads(chunk: int) -> None:
    data = out(T1, b"first\n") + err(T2, "caf\u00e9 \u2713\n".encode()) + out(T3, b"third\n")
    assert [(line.stream, line.message) for line in lines_of(data, chunk=chunk)] == [
        ("stdout", "first"),
        ("stderr", "caf\u00e9 \u2713"),
        ("stdout", "third"),
    ]


def test_a_line_over_16k_is_reassembled_with_its_first_timestamp() -> None:
    # What Docker 20.10 sends for a 40,000-byte line: 16 KiB chunks without the newline.
    text = b"x" * 40_000
    data = (
        out(T1, text[:16384])
        + err(T2, b"between\n")  # the other stream may interleave
        + out(T2, text[16384:32768])
        + out(T3, text[32768:] + b"\n")
        + out(T3, b"after\n")
    )
    found = lines_of(data, chunk=5000)
    assert [(line.stream, line.ts, len(line.message)) for line in found] == [
        ("stderr", T2, 7),
        ("stdout", T1, 40_000),
        ("stdout", T3, 5),
    ]
    assert found[1].message == text.decode() and not found[1].truncated


def test_a_multibyte_character_split_between_chunks_survives() -> None:
    snowman = "\u2603".encode()  # 3 bytes, split 1 + 2
    data = out(T1, b"a" + snowman[:1]) + out(T1, snowman[1:] + b"b\n")
    assert [line.message for line in lines_of(data)] == ["a\u2603b"]


def test_invalid_utf8_and_binary_become_replacement_characters() -> None:
    data = out(T1, b"bad \xff byte\n") + out(T2, bytes(range(256)) + b"\n")
    first, second = lines_of(data)
    assert first.message == "bad \ufffd byte"
    assert "\ufffd" in second.message and second.message.startswith("\x00\x01\x02")
    second.message.encode("utf-8")  # always valid text


def test_seq_numbers_lines_sharing_a_timestamp_per_stream() -> None:
    data = out(T1, b"a\n") + out(T1, b"b\n") + err(T1, b"e\n") + out(T1, b"c\n") + out(T2, b"d\n") + out(T2, b"e\n")
    assert [(line.stream, line.ts, line.seq) for line in lines_of(data)] == [
        ("stdout", T1, 0),
        ("stdout", T1, 1),
        ("stderr", T1, 0),
        ("stdout", T1, 2),
        ("stdout", T2, 0),
        ("stdout", T2, 1),
    ]


def test_a_line_over_the_cap_is_cut_marked_and_the_rest_of_it_dropped() -> None:
    chunk = b"y" * 1000
    data = b"".join(out(T1, chunk) for _ in range(5)) + out(T1, chunk + b"\n") + out(T2, b"next\n")
    found = lines_of(data, max_line=2500)
    assert len(found) == 2
    assert found[0].truncated and found[0].message == "y" * 2500 + TRUNCATED_MARK and found[0].ts == T1
    assert found[1] == CollectedLine("stdout", T2, "next")


def test_the_cap_does_not_cut_inside_a_character() -> None:
    data = out(T1, "\u00e9".encode() * 10 + b"\n")  # 20 bytes, cap 5 -> 2 characters
    (line,) = lines_of(data, max_line=5)
    assert line.message == "\u00e9\u00e9" + TRUNCATED_MARK
    assert cut_utf8("\u00e9\u00e9\u00e9".encode(), 5) == "\u00e9\u00e9".encode()
    assert cut_utf8(b"abc", 5) == b"abc"


def test_an_over_long_frame_is_cut_and_the_stream_stays_in_step() -> None:
    huge = T1.encode() + b" " + b"z" * (MAX_FRAME_BYTES + 500) + b"\n"
    data = frame(1, huge) + out(T2, b"next\n")
    found = lines_of(data, chunk=65536)
    assert found[0].truncated and found[0].message.endswith(TRUNCATED_MARK)
    assert found[1] == CollectedLine("stdout", T2, "next")


def test_a_bad_header_is_reported_not_misread() -> None:
    with pytest.raises(StreamCorrupt):
        list(FrameDecoder().feed(b"\x01\x00\x07\x00\x00\x00\x00\x05hello"))


def test_engine_errors_and_unknown_stream_types_are_not_lines() -> None:
    decoder, assembler = FrameDecoder(), LineAssembler()
    found = [
        line
        for f in decoder.feed(frame(3, b"error from daemon in stream\n") + frame(0, b"stdin?\n") + out(T1, b"ok\n"))
        for line in assembler.feed(f)
    ]
    assert found == [CollectedLine("stdout", T1, "ok")]
    assert assembler.engine_errors == ["error from daemon in stream"]


def test_a_payload_without_timestamp_keeps_the_last_one() -> None:
    assembler = LineAssembler()
    assert list(assembler.feed(Frame("stdout", b"naked\n"))) == [CollectedLine("stdout", NO_TS, "naked")]
    list(assembler.feed(Frame("stdout", T1.encode() + b" a\n")))
    assert list(assembler.feed(Frame("stderr", b"naked\n"))) == [CollectedLine("stderr", T1, "naked")]
    assert split_payload(b"2026-12-01T14:39:19Z x") == ("2026-12-01T14:39:19Z", b"x")


def test_finish_turns_a_last_line_without_newline_into_a_line() -> None:
    assembler = LineAssembler()
    assert list(assembler.feed(Frame("stdout", T1.encode() + b" no newline"))) == []
    assert assembler.pending("stdout") and not assembler.pending("stderr")
    assert list(assembler.finish()) == [CollectedLine("stdout", T1, "no newline")]
    assert not assembler.pending("stdout")


def test_tty_streams_are_lines_on_stdout() -> None:
    decoder = RawDecoder()
    frames = [*decoder.feed(T1.encode() + b" one\n" + T2.encode() + b" tw"), *decoder.feed(b"o\n")]
    assembler = LineAssembler()
    assert [line for f in frames for line in assembler.feed(f)] == [
        CollectedLine("stdout", T1, "one"),
        CollectedLine("stdout", T2, "two"),
    ]


def test_timestamps_compare_by_instant() -> None:
    assert ts_nanos("1970-01-01T00:00:01.5Z") == 1_500_000_000
    assert ts_nanos("1970-01-01T01:00:00.000000002+01:00") == 2
    assert Position.of(T1, 5) < Position.of(T2, 0) < Position.of(T2, 1)
    assert Position.of(T3, 0).second == ts_nanos(T3) // 1_000_000_000
    with pytest.raises(ValueError):
        ts_nanos("yesterday")


def test_resume_drops_each_streams_published_prefix_only() -> None:
    resume = Resume({"stdout": Position.of(T2, 0)})
    candidates = [
        CollectedLine("stdout", T1, "old"),
        CollectedLine("stderr", T1, "never published"),
        CollectedLine("stdout", T2, "the cursor itself"),
        CollectedLine("stdout", T2, "same ts, next seq", seq=1),
        CollectedLine("stdout", T1, "clock stepped back: kept, file order rules now"),
    ]
    assert [line.message for line in candidates if resume.keep(line)] == [
        "never published",
        "same ts, next seq",
        "clock stepped back: kept, file order rules now",
    ]
    assert resume.gaps == []  # the cursor's own line was still there: nothing lost


def test_resume_tells_a_gap_when_the_cursors_line_was_rotated_away() -> None:
    resume = Resume({"stdout": Position.of(T2, 3), "stderr": Position.of(T1, -1)})
    first = CollectedLine("stdout", T3, "the oldest line the engine still has")
    assert resume.keep(first)
    assert resume.keep(CollectedLine("stderr", T3, "a synthetic cursor (seq -1) proves nothing"))
    assert resume.gaps == [("stdout", T2, first)]


def reference_nanos(ts: str) -> int:
    """The instant of an RFC 3339 timestamp, the slow and obvious way (datetime)."""
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})", ts, re.ASCII)
    assert m, ts
    base = datetime.fromisoformat(m[1] + ("+00:00" if m[3] == "Z" else m[3]))
    return int(base.timestamp()) * 1_000_000_000 + int((m[2] or "").ljust(9, "0"))


@pytest.mark.parametrize(
    "ts",
    [
        T1,
        "2026-12-01T14:39:19.000000000Z",
        "2026-12-01T14:39:19.999999999Z",
        "1970-01-01T00:00:00.000000001Z",
        "2026-12-31T23:59:59.999999999Z",  # the last nanosecond of a year
        "2024-02-29T12:00:00.000000001Z",  # a leap day
        "2026-12-01T14:39:19.21676976Z",  # fewer digits (Docker's RFC3339Nano trims zeros)
        "2026-12-01T14:39:19.5Z",
        "2026-12-01T14:39:19Z",  # no fraction at all
        "2026-12-01T16:39:19.216769763+02:00",
        "2026-12-01T14:39:19.216769763-00:30",
    ],
)
def test_timestamps_read_by_slicing_agree_with_datetime(ts: str) -> None:
    assert ts_nanos(ts) == reference_nanos(ts)


@pytest.mark.parametrize(
    "ts",
    [
        "2016-12-31T23:59:60.000000000Z",  # a leap second: the engine never writes one, datetime can't hold it
        "2026-13-01T14:39:19.216769763Z",
        "2026-12-01T14:39:19.2167697631Z",  # ten digits
        "2026-12-01T14:39:19.21676976xZ",
        "2026-12-01T14:39:19. 16769763Z",  # int() would take these three; a timestamp does not
        "2026-12-01T14:39:19.+16769763Z",
        "2026-12-01T14:39:19.2_6769763Z",
        "2026-12-01T14:39:1x.216769763Z",
        "2026-12-01T14:39:19.216769763z",
    ],
)
def test_what_is_not_a_docker_timestamp_is_refused_on_the_fast_path_too(ts: str) -> None:
    with pytest.raises(ValueError):
        ts_nanos(ts)


def test_the_last_position_compares_instants_whatever_the_form() -> None:
    fixed = [
        CollectedLine("stdout", T2, "b"),
        CollectedLine("stdout", T2, "c", seq=1),
        CollectedLine("stdout", T1, "a"),
    ]
    assert all(fixed_form(line.ts) for line in fixed)
    assert last_position(fixed) == Position.of(T2, 1)
    # ".5Z" sorts after "...216769763Z" as text but is earlier; an offset sorts anywhere.
    mixed = [
        CollectedLine("stdout", "2026-12-01T14:39:19.5Z", "late"),
        CollectedLine("stdout", "2026-12-01T16:39:19.900000000+02:00", "later"),
        CollectedLine("stdout", T1, "early"),
    ]
    assert not fixed_form(mixed[0].ts)
    assert last_position(mixed) == Position.of(mixed[1].ts, 0)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (T1.encode() + b" plain\n", CollectedLine("stdout", T1, "plain")),
        (T1.encode() + b" \n", CollectedLine("stdout", T1, "")),
        (T1.encode() + b"  two spaces\r\n", CollectedLine("stdout", T1, " two spaces\r")),
        (T1.encode() + " caf\u00e9\n".encode(), CollectedLine("stdout", T1, "caf\u00e9")),
        (T1.encode() + b" bad \xff\n", CollectedLine("stdout", T1, "bad \ufffd")),
        (b"2026-12-01T14:39:19.5Z short\n", CollectedLine("stdout", "2026-12-01T14:39:19.5Z", "short")),
        (
            b"2026-12-01T14:39:1x.216769763Z not a ts\n",
            CollectedLine("stdout", NO_TS, "2026-12-01T14:39:1x.216769763Z not a ts"),
        ),
        (
            b"2026-12-01T14:39:19.21676976xZ nor this\n",
            CollectedLine("stdout", NO_TS, "2026-12-01T14:39:19.21676976xZ nor this"),
        ),
        (T1.encode() + b"no space\n", CollectedLine("stdout", NO_TS, T1 + "no space")),
    ],
)
def test_every_kind_of_whole_frame_becomes_the_same_line_as_before(payload: bytes, expected: CollectedLine) -> None:
    # One frame in a fresh assembler: the common frames take a shortcut, the rest the general
    # way; the line is the same either way (what each kind of payload has always become).
    assert list(LineAssembler().feed(Frame("stdout", payload))) == [expected]


def test_a_line_exactly_at_the_cap_is_whole_and_one_byte_more_is_cut() -> None:
    at_cap = lines_of(out(T1, b"x" * 100 + b"\n"), max_line=100)
    over = lines_of(out(T1, b"x" * 101 + b"\n"), max_line=100)
    assert at_cap == [CollectedLine("stdout", T1, "x" * 100)]
    assert over == [CollectedLine("stdout", T1, "x" * 100 + TRUNCATED_MARK, truncated=True)]


@pytest.mark.parametrize("chunk", [1, 5, 8, 4096, MAX_FRAME_BYTES + 7])
def test_an_over_long_frame_is_skipped_whatever_the_reads(chunk: int) -> None:
    huge = T1.encode() + b" " + b"z" * (MAX_FRAME_BYTES + 500) + b"\n"
    data = out(T1, b"before\n") + frame(1, huge) + out(T2, b"next\n")
    found = lines_of(data, chunk=chunk)
    assert [(line.message[:6], line.truncated) for line in found] == [
        ("before", False),
        ("zzzzzz", True),
        ("next", False),
    ]
