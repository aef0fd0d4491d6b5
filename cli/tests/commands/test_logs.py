"""`berth logs`: flags become the API query; the SSE stream is parsed into events."""

from __future__ import annotations

import argparse

from berth_cli.commands.logs import format_line, parse_sse, query_params
from berth_cli.main import build_parser


def test_flags_map_to_query_parameters() -> None:
    args = argparse.Namespace(since="15m", until=None, grep="boom", stream="stderr", release="v3", limit=50)
    assert query_params(args) == {"since": "15m", "q": "boom", "stream": "stderr", "release": "v3", "limit": "50"}
    args.probes = True  # --probes: Berth's own probes are shown too (the API hides them by default)
    assert query_params(args)["probes"] == "true"


def test_process_and_run_filters() -> None:
    args = build_parser().parse_args(["logs", "shop", "--process", "worker", "--run", "r1"])
    assert query_params(args) == {"process": "worker", "run": "r1", "limit": "200"}


def test_sse_events_comments_and_names() -> None:
    stream = [": heartbeat", "id: 7", 'data: {"a": 1}', "", "event: skipped", "data: 12 lines skipped", ""]
    assert list(parse_sse(iter(stream))) == [("message", '{"a": 1}'), ("skipped", "12 lines skipped")]


def test_line_format_marks_stderr_and_names_the_process() -> None:
    line = format_line({"timestamp": "2026-12-01T10:00:00Z", "stream": "stderr", "message": "boom"})
    assert line == "2026-12-01T10:00:00Z [web] err boom"  # a line of an API from before processes
    worker = {"timestamp": "2026-12-01T10:00:01Z", "stream": "stdout", "message": "job", "process": "worker"}
    assert format_line({**worker, "runId": None}) == "2026-12-01T10:00:01Z [worker] out job"
    run = {**worker, "process": "run", "runId": "1f0c2a9b-0000-4000-8000-000000000000"}
    assert format_line(run) == "2026-12-01T10:00:01Z [run 1f0c2a9b] out job"
