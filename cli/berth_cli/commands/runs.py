"""`berth run APP [-i] [--timeout S] -- cmd args…`: a one-off container of the app's live
release with its env (ADR 0026 §5). The output is streamed to this terminal's stdout and stderr,
stdin is forwarded with ``-i`` (Ctrl-D closes it, Ctrl-C stops the run), and the exit code is the
run's (1 with the reason when it could not start). The output is also kept in the app's logs
under the run's id: ``berth logs APP --run ID``."""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from berth_shared.contracts.runs import ADOPTED_SEQ

from berth_cli.client import EXIT_FAILED, EXIT_UNREACHABLE, EXIT_USAGE, Api, CliError

# Run statuses that are final (RunFinished.outcome); before them a run is pending or running.
FINISHED = frozenset({"exited", "timed_out", "stopped", "failed_to_start", "lost"})
MAX_TIMEOUT = 86_400
STDIN_CHUNK = 64 * 1024  # the API takes at most 64 KiB a request
POLL_SECONDS = 0.25
# The output stream is resumed this many times when the connection drops.
RECONNECTS = 3


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "run",
        help="run a command in a one-off container of the app's live release: run APP [-i] -- cmd args...",
        description="Runs CMD with the app's image and env, prints its output, exits with its exit code.",
    )
    run.add_argument("-i", "--interactive", action="store_true", help="forward stdin (Ctrl-D closes it)")
    run.add_argument(
        "--timeout", type=int, metavar="S", help=f"stop the run after S seconds (default 3600, max {MAX_TIMEOUT})"
    )
    run.add_argument("app")
    run.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD ARGS")
    run.set_defaults(func=run_command)


@dataclass(frozen=True)
class RunRequest:
    command: list[str]
    interactive: bool = False
    timeout: int | None = None

    def body(self) -> dict[str, Any]:
        """The body of ``POST /api/apps/{id}/runs`` (pure)."""
        body: dict[str, Any] = {"command": self.command, "attach": True, "stdin": self.interactive}
        if self.timeout is not None:
            body["timeoutSeconds"] = self.timeout
        return body


def parse_run_argv(argv: Sequence[str], interactive: bool = False, timeout: int | None = None) -> RunRequest:
    """What follows ``berth run APP`` (pure): ``-i``/``--timeout S`` may come before ``--``;
    everything after ``--`` is the command, untouched. Without ``--``, the command starts at the
    first word that is not one of those options."""
    words = list(argv)
    if "--" in words:
        head, command = words[: words.index("--")], words[words.index("--") + 1 :]
    else:
        head, command = [], words
    options = head if "--" in words else command
    i = 0
    while i < len(options):
        word = options[i]
        if word in ("-i", "--interactive"):
            interactive = True
        elif word == "--timeout" or word.startswith("--timeout="):
            text = word.partition("=")[2] if "=" in word else (options[i + 1] if i + 1 < len(options) else "")
            i += 0 if "=" in word else 1
            if not text.isdigit() or not 1 <= int(text) <= MAX_TIMEOUT:
                raise CliError(f"--timeout takes seconds, 1-{MAX_TIMEOUT}", EXIT_USAGE)
            timeout = int(text)
        elif "--" in words:
            raise CliError(f"unknown option {word!r} before --; the command goes after --", EXIT_USAGE)
        else:
            break
        i += 1
    if "--" not in words:
        command = command[i:]
    if not command:
        raise CliError("name the command to run: berth run APP -- CMD ARGS", EXIT_USAGE)
    if timeout is not None and not 1 <= timeout <= MAX_TIMEOUT:
        raise CliError(f"--timeout takes seconds, 1-{MAX_TIMEOUT}", EXIT_USAGE)
    return RunRequest(command=command, interactive=interactive, timeout=timeout)


@dataclass
class RunEnd:
    outcome: str
    exit_code: int | None


class OutputRelay:
    """Writes a run's ``output`` events to the terminal's streams in order and remembers its
    ``exit`` event. A gap in ``seq`` (chunks the relay dropped) is told through ``note``: the
    app's logs still have every line."""

    def __init__(self, stdout: BinaryIO, stderr: BinaryIO, note: Callable[[str], None]) -> None:
        self.stdout, self.stderr, self.note = stdout, stderr, note
        self.next_seq = 0
        self.end: RunEnd | None = None

    def feed(self, event: str, data: str) -> bool:
        """Handle one SSE event; True once the run has ended."""
        if event == "output":
            chunk = json.loads(data)
            seq = int(chunk.get("seq", self.next_seq))
            if seq < self.next_seq:
                return False  # already written (a resumed stream repeats from where it was)
            if seq >= ADOPTED_SEQ > self.next_seq:
                self.note("the runtime agent restarted while the run went on: output written meanwhile was not relayed")
            elif seq > self.next_seq:
                self.note(f"{seq - self.next_seq} chunk(s) of output were not relayed")
            stream = self.stderr if chunk.get("stream") == "stderr" else self.stdout
            # Text as it is; a chunk that is not UTF-8 comes as ``base64``.
            raw = base64.b64decode(chunk["base64"]) if "base64" in chunk else str(chunk.get("data", "")).encode()
            stream.write(raw)
            stream.flush()
            self.next_seq = seq + 1
        elif event == "exit":
            end = json.loads(data)
            self.end = RunEnd(outcome=str(end.get("outcome") or "exited"), exit_code=end.get("exitCode"))
            return True
        return False


def exit_code_of(run: dict[str, Any]) -> int:
    """The CLI's exit code for a finished run (pure): the command's exit code; 1 when it never
    ran or was lost."""
    code = run.get("exitCode")
    if code is not None:
        return int(code)
    return 0 if run.get("status") == "exited" else EXIT_FAILED


def finished_line(run: dict[str, Any]) -> str:
    """One line on how a run ended (pure)."""
    status = str(run.get("status"))
    words = {
        "exited": "exited",
        "timed_out": "timed out",
        "stopped": "was stopped",
        "failed_to_start": "could not start",
        "lost": "was lost",
    }.get(status, status)
    code = f" with {run['exitCode']}" if run.get("exitCode") is not None else ""
    duration = f" after {run['durationMs'] / 1000:.1f}s" if run.get("durationMs") is not None else ""
    reason = f": {run['reason']}" if run.get("reason") else ""
    return f"run {run.get('id')} {words}{code}{duration}{reason}"


def _wait_finished(api: Api, path: str) -> dict[str, Any]:
    while True:
        run = dict(api.get(path))
        if run.get("status") in FINISHED:
            return run
        time.sleep(POLL_SECONDS)


def _forward_stdin(api: Api, path: str) -> None:
    """Send this terminal's stdin to the run until EOF (Ctrl-D), then close the run's stdin.
    Nothing is sent while the run is pending: the agent listens for it once the run started."""
    fd = sys.stdin.fileno()
    try:
        while (status := api.get(path.removesuffix("/stdin")).get("status")) == "pending":
            time.sleep(POLL_SECONDS)
        if status in FINISHED:
            return
        while chunk := os.read(fd, STDIN_CHUNK):
            api.post(path, content=chunk, headers={"Content-Type": "application/octet-stream"})
        api.post(path, params={"eof": "1"}, content=b"", headers={"Content-Type": "application/octet-stream"})
    except (CliError, OSError):
        return  # the run ended (409/404) or the terminal went away: nothing more to send


def run_command(api: Api, args: argparse.Namespace) -> int:
    from berth_cli.commands.logs import stream_events

    request = parse_run_argv(args.argv, args.interactive, args.timeout)
    base = f"/api/apps/{args.app}/runs"
    run = api.post(base, json=request.body())
    run_path = f"{base}/{run['id']}"

    def note(text: str) -> None:
        print(f"berth: {text}; all of it: berth logs {args.app} --run {run['id']}", file=sys.stderr, flush=True)

    relay = OutputRelay(sys.stdout.buffer, sys.stderr.buffer, note)
    if request.interactive:
        threading.Thread(target=_forward_stdin, args=(api, f"{run_path}/stdin"), daemon=True).start()
    try:
        for attempt in range(RECONNECTS + 1):
            try:
                # ``after``: a reconnect resumes after the last chunk written.
                params = {"follow": "1", "after": str(relay.next_seq - 1)}
                for event, data in stream_events(api, f"{run_path}/output", params):
                    if relay.feed(event, data):
                        break
                break
            except CliError as exc:
                if exc.exit_code != EXIT_UNREACHABLE or attempt == RECONNECTS:
                    raise
                time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        print(f"\nberth: stopping run {run['id']} (Ctrl-C again to leave it running)", file=sys.stderr, flush=True)
        api.post(f"{run_path}/stop")
    end = relay.end
    if end is not None and end.outcome == "exited" and end.exit_code is not None:
        return end.exit_code
    # Not a plain exit (timeout, stop, no start), or the stream ended early: the run says how.
    finished = _wait_finished(api, run_path)
    if finished.get("status") != "exited" or end is None:
        print(f"berth: {finished_line(finished)}", file=sys.stderr, flush=True)
    return exit_code_of(finished)
