"""`berth run`: the words after APP, the run it asks for, its output on the terminal's streams
and the exit code, on fixed API answers (POST runs, the output SSE, GET run, stdin; ADR 0026 §5)."""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Iterator

import httpx
import pytest
from berth_cli.client import EXIT_CONFLICT, EXIT_USAGE, CliError
from berth_cli.commands.runs import OutputRelay, RunRequest, _forward_stdin, exit_code_of, parse_run_argv
from berth_cli.main import build_parser
from berth_shared.contracts.runs import ADOPTED_SEQ
from fake_cli_api import FakeApi, sse

RUNS = "/api/apps/shop/runs"


def run_cli(fake: FakeApi, *argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    return int(args.func(fake.api(), args))


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--", "python", "-c", "print(1)"], RunRequest(["python", "-c", "print(1)"])),
        (["-i", "--", "sh"], RunRequest(["sh"], interactive=True)),
        (["--timeout", "30", "--", "x", "-i"], RunRequest(["x", "-i"], timeout=30)),
        (["--timeout=30", "-i", "--", "--", "x"], RunRequest(["--", "x"], interactive=True, timeout=30)),
        # Without --, the command starts at the first word that is not an option of berth run.
        (["python", "manage.py", "shell", "-i"], RunRequest(["python", "manage.py", "shell", "-i"])),
        (["-i", "python"], RunRequest(["python"], interactive=True)),
    ],
)
def test_words_after_the_app(argv: list[str], expected: RunRequest) -> None:
    assert parse_run_argv(argv) == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "name the command"),
        (["--"], "name the command"),
        (["-i", "--"], "name the command"),
        (["--bogus", "--", "x"], "unknown option '--bogus' before --"),
        (["--timeout", "0", "--", "x"], "--timeout takes seconds"),
        (["--timeout", "86401", "--", "x"], "--timeout takes seconds"),
        (["--timeout", "--", "x"], "--timeout takes seconds"),
    ],
)
def test_bad_words_are_usage_errors(argv: list[str], message: str) -> None:
    with pytest.raises(CliError, match=message) as caught:
        parse_run_argv(argv)
    assert caught.value.exit_code == EXIT_USAGE


def test_options_before_or_after_the_app() -> None:
    parser = build_parser()
    after = parser.parse_args(["run", "shop", "-i", "--", "python", "-c", "x"])
    before = parser.parse_args(["run", "-i", "--timeout", "9", "shop", "--", "python", "-c", "x"])
    assert parse_run_argv(after.argv, after.interactive, after.timeout) == RunRequest(
        ["python", "-c", "x"], interactive=True
    )
    assert parse_run_argv(before.argv, before.interactive, before.timeout) == RunRequest(
        ["python", "-c", "x"], interactive=True, timeout=9
    )


def test_the_request_body() -> None:
    assert RunRequest(["ls", "-l"], interactive=True, timeout=60).body() == {
        "command": ["ls", "-l"],
        "attach": True,
        "stdin": True,
        "timeoutSeconds": 60,
    }
    assert "timeoutSeconds" not in RunRequest(["ls"]).body()


def events(*pairs: tuple[str, dict[str, object]]) -> Iterator[tuple[str, str]]:
    return iter([(name, json.dumps(data)) for name, data in pairs])


def test_the_relay_writes_each_stream_in_order_and_tells_a_gap() -> None:
    out, err, notes = io.BytesIO(), io.BytesIO(), list[str]()
    relay = OutputRelay(out, err, notes.append)
    ended = [
        relay.feed(name, data)
        for name, data in events(
            ("output", {"seq": 0, "stream": "stdout", "data": "one\n"}),
            ("output", {"seq": 1, "stream": "stderr", "data": "warn\n"}),
            ("output", {"seq": 1, "stream": "stderr", "data": "warn\n"}),  # repeated on a resume
            ("output", {"seq": 4, "stream": "stdout", "data": "two ünïcode\n"}),
            ("exit", {"exitCode": 3, "outcome": "exited"}),
        )
    ]
    assert ended == [False, False, False, False, True]
    assert (out.getvalue().decode(), err.getvalue().decode()) == ("one\ntwo ünïcode\n", "warn\n")
    assert notes == ["2 chunk(s) of output were not relayed"]
    assert relay.end is not None
    assert (relay.end.outcome, relay.end.exit_code) == ("exited", 3)


def test_a_run_adopted_by_a_restarted_agent_is_told_as_a_restart_not_a_chunk_count() -> None:
    out, notes = io.BytesIO(), list[str]()
    relay = OutputRelay(out, io.BytesIO(), notes.append)
    for name, data in events(
        ("output", {"seq": 0, "stream": "stdout", "data": "begun\n"}),
        ("output", {"seq": ADOPTED_SEQ, "stream": "stdout", "data": "finished\n"}),
        ("output", {"seq": ADOPTED_SEQ + 2, "stream": "stdout", "data": "after\n"}),
    ):
        relay.feed(name, data)
    assert out.getvalue() == b"begun\nfinished\nafter\n"
    assert notes == [
        "the runtime agent restarted while the run went on: output written meanwhile was not relayed",
        "1 chunk(s) of output were not relayed",
    ]


def test_exit_codes_of_finished_runs() -> None:
    assert exit_code_of({"status": "exited", "exitCode": 0}) == 0
    assert exit_code_of({"status": "exited", "exitCode": 42}) == 42
    assert exit_code_of({"status": "timed_out", "exitCode": 143}) == 143
    assert exit_code_of({"status": "failed_to_start", "exitCode": None}) == 1
    assert exit_code_of({"status": "lost"}) == 1


def test_run_prints_the_output_and_exits_with_the_runs_code(capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    fake = FakeApi(
        {
            ("POST", RUNS): httpx.Response(202, json={"id": "r1", "status": "pending"}),
            ("GET", f"{RUNS}/r1/output"): sse(
                ("output", {"seq": 0, "stream": "stdout", "data": "migrating\n"}),
                ("output", {"seq": 1, "stream": "stderr", "data": "boom\n"}),
                ("exit", {"exitCode": 3, "outcome": "exited"}),
            ),
        }
    )
    assert run_cli(fake, "run", "shop", "--timeout", "30", "--", "python", "migrate.py") == 3
    assert fake.bodies("POST", RUNS) == [
        {"command": ["python", "migrate.py"], "attach": True, "stdin": False, "timeoutSeconds": 30}
    ]
    output = next(r for r in fake.requests if r.url.path.endswith("/output"))
    assert output.url.params["follow"] == "1"
    captured = capfdbinary.readouterr()
    assert (captured.out, captured.err) == (b"migrating\n", b"boom\n")


def test_a_run_that_could_not_start_exits_1_with_the_reason(capfd: pytest.CaptureFixture[str]) -> None:
    fake = FakeApi(
        {
            ("POST", RUNS): httpx.Response(202, json={"id": "r2", "status": "pending"}),
            ("GET", f"{RUNS}/r2/output"): sse(("exit", {"exitCode": None, "outcome": "failed_to_start"})),
            ("GET", f"{RUNS}/r2"): {"id": "r2", "status": "failed_to_start", "reason": "no free address"},
        }
    )
    assert run_cli(fake, "run", "shop", "--", "true") == 1
    assert capfd.readouterr().err == "berth: run r2 could not start: no free address\n"


def test_a_timed_out_run_says_so_and_exits_with_its_code(capfd: pytest.CaptureFixture[str]) -> None:
    fake = FakeApi(
        {
            ("POST", RUNS): httpx.Response(202, json={"id": "r3", "status": "pending"}),
            ("GET", f"{RUNS}/r3/output"): sse(("exit", {"exitCode": 143, "outcome": "timed_out"})),
            ("GET", f"{RUNS}/r3"): {
                "id": "r3",
                "status": "timed_out",
                "exitCode": 143,
                "durationMs": 5012,
                "reason": "ran past its timeout of 5 s",
            },
        }
    )
    assert run_cli(fake, "run", "shop", "--timeout", "5", "--", "sleep", "60") == 143
    assert capfd.readouterr().err == "berth: run r3 timed out with 143 after 5.0s: ran past its timeout of 5 s\n"


def test_a_stream_that_ends_early_waits_for_the_run(capfd: pytest.CaptureFixture[str]) -> None:
    polls = iter([{"id": "r4", "status": "running"}, {"id": "r4", "status": "exited", "exitCode": 0}])
    fake = FakeApi(
        {
            ("POST", RUNS): httpx.Response(202, json={"id": "r4", "status": "pending"}),
            ("GET", f"{RUNS}/r4/output"): sse(("output", {"seq": 0, "stream": "stdout", "data": "hi\n"})),
            ("GET", f"{RUNS}/r4"): lambda _request: httpx.Response(200, json=next(polls)),
        }
    )
    assert run_cli(fake, "run", "shop", "--", "echo", "hi") == 0
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ("hi\n", "berth: run r4 exited with 0\n")


def test_no_live_release_is_a_conflict() -> None:
    refused = {"error": {"code": "conflict", "message": "shop has no live release; deploy it first"}}
    fake = FakeApi({("POST", RUNS): httpx.Response(409, json=refused)})
    with pytest.raises(CliError, match="no live release") as caught:
        run_cli(fake, "run", "shop", "--", "true")
    assert caught.value.exit_code == EXIT_CONFLICT


def test_stdin_is_sent_in_chunks_then_closed_once_the_run_started(monkeypatch: pytest.MonkeyPatch) -> None:
    polls = iter([{"id": "r5", "status": "pending"}, {"id": "r5", "status": "running"}])
    fake = FakeApi(
        {
            ("POST", f"{RUNS}/r5/stdin"): httpx.Response(204),
            ("GET", f"{RUNS}/r5"): lambda _request: httpx.Response(200, json=next(polls)),
        }
    )
    read, write = os.pipe()
    os.write(write, b"print('hi')\n")
    os.close(write)
    with os.fdopen(read, "rb") as stdin:
        monkeypatch.setattr(sys, "stdin", stdin)
        _forward_stdin(fake.api(), f"{RUNS}/r5/stdin")
    sent = [(r.method, r.content, r.url.params.get("eof")) for r in fake.requests]
    assert sent == [("GET", b"", None), ("GET", b"", None), ("POST", b"print('hi')\n", None), ("POST", b"", "1")]


def test_ctrl_c_stops_the_run_and_exits_with_its_code(capfd: pytest.CaptureFixture[str]) -> None:
    def interrupted(_request: httpx.Request) -> httpx.Response:
        raise KeyboardInterrupt

    fake = FakeApi(
        {
            ("POST", RUNS): httpx.Response(202, json={"id": "r6", "status": "pending"}),
            ("GET", f"{RUNS}/r6/output"): interrupted,
            ("POST", f"{RUNS}/r6/stop"): httpx.Response(202, json={"id": "r6", "status": "running"}),
            ("GET", f"{RUNS}/r6"): {"id": "r6", "status": "stopped", "exitCode": 143, "reason": "stopped by admin"},
        }
    )
    assert run_cli(fake, "run", "shop", "--", "sleep", "600") == 143
    assert [r.url.path for r in fake.requests if r.method == "POST"] == [RUNS, f"{RUNS}/r6/stop"]
    err = capfd.readouterr().err
    assert "berth: stopping run r6" in err
    assert err.endswith("berth: run r6 was stopped with 143: stopped by admin\n")


def test_a_chunk_that_is_not_utf8_comes_as_base64() -> None:
    out = io.BytesIO()
    relay = OutputRelay(out, io.BytesIO(), lambda _note: None)
    relay.feed("output", json.dumps({"seq": 0, "stream": "stdout", "base64": "/w=="}))
    assert out.getvalue() == b"\xff"


class DroppedStream(httpx.SyncByteStream):
    """An SSE body whose connection drops after its first event."""

    def __init__(self, first: bytes) -> None:
        self.first = first

    def __iter__(self) -> Iterator[bytes]:
        yield self.first
        raise httpx.ReadError("connection reset")


def test_a_dropped_output_stream_is_resumed_after_the_last_chunk(capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    first = b'event: output\ndata: {"seq": 0, "stream": "stdout", "data": "one\\n"}\n\n'
    answers = iter(
        [
            httpx.Response(200, stream=DroppedStream(first), headers={"Content-Type": "text/event-stream"}),
            sse(
                ("output", {"seq": 1, "stream": "stdout", "data": "two\n"}),
                ("exit", {"exitCode": 0, "outcome": "exited"}),
            ),
        ]
    )
    fake = FakeApi(
        {
            ("POST", RUNS): httpx.Response(202, json={"id": "r7", "status": "pending"}),
            ("GET", f"{RUNS}/r7/output"): lambda _request: next(answers),
        }
    )
    assert run_cli(fake, "run", "shop", "--", "seq", "2") == 0
    afters = [r.url.params["after"] for r in fake.requests if r.url.path.endswith("/output")]
    assert afters == ["-1", "0"]
    assert capfdbinary.readouterr().out == b"one\ntwo\n"


def test_no_stdin_is_sent_to_a_run_that_ended_before_it_ran(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeApi({("GET", f"{RUNS}/r8"): {"id": "r8", "status": "failed_to_start"}})
    read, write = os.pipe()
    os.write(write, b"data")
    os.close(write)
    with os.fdopen(read, "rb") as stdin:
        monkeypatch.setattr(sys, "stdin", stdin)
        _forward_stdin(fake.api(), f"{RUNS}/r8/stdin")
    assert [r.method for r in fake.requests] == ["GET"]
