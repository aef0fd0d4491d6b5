"""The json-file log as the engine writes it, read from disk: entries, lines, the next file."""

from __future__ import annotations

import json

from berth_agent.logs.decide_frames import NO_TS, TRUNCATED_MARK, CollectedLine
from berth_agent.logs.decide_json_file import (
    Entry,
    EntryAssembler,
    Loss,
    Next,
    Spot,
    files_after,
    fixed_ts,
    log_file_of,
    next_file,
    parse_entries,
    start_at,
)

T = "2026-12-05T12:00:00.123456789Z"


def raw(log: str, stream: str = "stdout", time: str = T) -> bytes:
    return json.dumps({"log": log, "stream": stream, "time": time}, separators=(",", ":")).encode() + b"\n"


def test_whole_lines_are_parsed_and_a_line_still_being_written_waits() -> None:
    data = raw("one\n") + raw("two\n", "stderr") + raw("thr")[:20]
    parsed = parse_entries(data)
    assert parsed.entries == [Entry("one\n", "stdout", T), Entry("two\n", "stderr", T)]
    assert parsed.used == len(raw("one\n") + raw("two\n", "stderr")) and parsed.bad == 0
    assert parse_entries(raw("x")[:10]).entries == []


def test_a_line_that_is_no_entry_is_skipped_and_counted() -> None:
    parsed = parse_entries(raw("a\n") + b"garbage\n" + raw("b\n"))
    assert [e.log for e in parsed.entries] == ["a\n", "b\n"] and parsed.bad == 1


def test_the_engines_trimmed_times_become_its_fixed_form() -> None:
    assert fixed_ts("2026-12-05T12:00:00.1234Z") == "2026-12-05T12:00:00.123400000Z"
    assert fixed_ts("2026-12-05T12:00:00Z") == "2026-12-05T12:00:00.000000000Z"
    assert fixed_ts(T) == T
    assert fixed_ts("2026-12-05T12:00:00.1+01:00") is None
    assert fixed_ts("yesterday") is None


def test_entries_become_the_lines_the_engines_stream_gives() -> None:
    assembler = EntryAssembler()
    lines = assembler.feed_all(
        [
            Entry("a\n", "stdout", T),
            Entry("b\n", "stdout", T),  # same time: the next seq
            Entry("e\n", "stderr", T),  # numbered per stream
            Entry("c\n", "stdout", "2026-12-05T12:00:01.5Z"),
            Entry("bad \ufffd byte\n", "stdout", "2026-12-05T12:00:01.5Z"),
        ]
    )
    assert lines == [
        CollectedLine("stdout", T, "a", 0),
        CollectedLine("stdout", T, "b", 1),
        CollectedLine("stderr", T, "e", 0),
        CollectedLine("stdout", "2026-12-05T12:00:01.500000000Z", "c", 0),
        CollectedLine("stdout", "2026-12-05T12:00:01.500000000Z", "bad \ufffd byte", 1),
    ]
    assert assembler.last_ts == "2026-12-05T12:00:01.500000000Z"


def test_lines_the_engine_split_at_16_kib_are_joined_at_their_first_time() -> None:
    assembler = EntryAssembler()
    later = "2026-12-05T12:00:00.2Z"
    assert assembler.feed_all([Entry("x" * 16384, "stdout", T), Entry("mid\n", "stderr", later)]) == [
        CollectedLine("stderr", "2026-12-05T12:00:00.200000000Z", "mid", 0)
    ]
    assert assembler.pending("stdout") and not assembler.pending("stderr")
    assert assembler.feed_all([Entry("y\n", "stdout", later)]) == [CollectedLine("stdout", T, "x" * 16384 + "y", 0)]
    assert not assembler.pending("stdout")


def test_a_joined_line_over_the_cap_is_cut_once_and_its_rest_dropped() -> None:
    assembler = EntryAssembler(max_line_bytes=10)
    lines = assembler.feed_all([Entry("é" * 4, "stdout", T), Entry("abcd", "stdout", T), Entry("rest\n", "stdout", T)])
    lines += assembler.feed_all([Entry("next\n", "stdout", T)])
    assert [line.message for line in lines] == ["é" * 4 + "ab" + TRUNCATED_MARK, "next"]
    assert lines[0].truncated and [line.seq for line in lines] == [0, 1]


def test_a_stopped_containers_last_line_without_newline_is_a_line() -> None:
    assembler = EntryAssembler()
    assert assembler.feed_all([Entry("bye", "stdout", T)]) == []
    assert assembler.finish() == [CollectedLine("stdout", T, "bye", 0)]
    assert assembler.finish() == []
    assert parse_entries(raw("z")[:-1], final=True).entries == [Entry("z", "stdout", T)]


def test_an_entry_without_an_engine_time_takes_the_last_good_one() -> None:
    assembler = EntryAssembler()
    assert assembler.feed_all([Entry("a\n", "stdout", "soon")])[0].ts == NO_TS
    assembler.feed_all([Entry("b\n", "stdout", T)])
    assert assembler.feed_all([Entry("c\n", "stdout", "")]) == [CollectedLine("stdout", T, "c", 1)]
    assert assembler.bad_times == 2
    assert assembler.feed_all([Entry("d\n", "engine", T)]) == []  # not an app's stream


def test_the_next_file_follows_the_rotation_by_inode() -> None:
    # ring oldest first: LogPath.2, LogPath.1, LogPath
    assert next_file(7, [5, 6, 7]) == Next(None)  # the newest: wait for more
    assert next_file(6, [5, 6, 7]) == Next(7)  # renamed to .1: LogPath follows
    assert next_file(5, [5, 6, 7]) == Next(6)
    assert next_file(5, [7, 8, 9]) == Next(7, Loss.MAYBE)  # deleted before anything after it was seen
    assert next_file(5, []) == Next(None)


def test_the_files_seen_after_the_newest_known_one_and_whether_one_may_be_missing() -> None:
    assert files_after(5, [5, 6, 7]) == ([6, 7], False)
    assert files_after(7, [5, 6, 7]) == ([], False)
    assert files_after(4, [6, 7]) == ([6, 7], True)  # rotated out: is 6 the one after it? cannot tell
    assert files_after(4, []) == ([], False)


def test_a_read_begins_where_the_last_one_ended_while_its_file_is_there() -> None:
    assert start_at([5, 6], Spot(6, 1234)) == (6, 1234)
    assert start_at([6, 7], Spot(5, 1234)) == (6, 0)  # rotated out: the oldest; the cursor skips
    assert start_at([6, 7], None) == (6, 0)
    assert start_at([], None) is None


def test_only_a_json_file_log_with_a_path_is_read_from_disk() -> None:
    inspect = {"LogPath": "/var/lib/docker/containers/c/c-json.log", "HostConfig": {"LogConfig": {"Type": "json-file"}}}
    assert log_file_of(inspect) == "/var/lib/docker/containers/c/c-json.log"
    assert log_file_of(inspect, from_disk=False) == ""  # BERTH_AGENT_LOGS_FROM=engine
    assert log_file_of({**inspect, "HostConfig": {"LogConfig": {"Type": "local"}}}) == ""
    assert log_file_of({**inspect, "LogPath": ""}) == ""
    assert log_file_of({}) == ""
