"""One-off runs (ADR 0026 §5), pure: the run container's create body, its output as numbered
chunks with the last lines kept, and how a run ended."""

from __future__ import annotations

import codecs
from collections import deque
from typing import Any, Literal

from berth_shared import labels
from berth_shared.contracts.desired import DesiredApp, DesiredRelease
from berth_shared.contracts.runs import DesiredRun, RunFinished, RunOutcome, RunOutput

from berth_agent.containers.decide import limits, one_off_config

LAST_LINES = 20
MAX_LINE_CHARS = 8192
# A chunk of output published on the run's subject: well under the bus's payload limit.
MAX_CHUNK_BYTES = 32 * 1024

Stream = Literal["stdout", "stderr"]


def container_name(instance: str, app_name: str, run_id: str) -> str:
    return f"berth-{instance}-{app_name}-run-{run_id[:12]}"


def run_config(app: DesiredApp, run: DesiredRun, env: dict[str, str], instance: str, *, address: str) -> dict[str, Any]:
    """The create body of ``run``'s container: the release's one-off config (the web containers'
    hardened host config, the run's image and env), ``berth.run`` and ``berth.process=run|cron``,
    the run's limits, stdin open (closed at its end) when the run reads it."""
    release = DesiredRelease(
        release_id=run.release_id, image=run.image, env=env, stop_timeout_seconds=run.stop_timeout_seconds
    )
    body = one_off_config(app, release, instance, process=run.kind, command=run.command, address=address)
    body["Labels"] |= {labels.RUN: run.run_id}
    body["Hostname"] = f"{app.name}-{run.kind}"[:63]
    body["HostConfig"] |= limits(run.resources)
    if run.stdin:
        body |= {"AttachStdin": True, "OpenStdin": True, "StdinOnce": True}
    return body


def was_started(state: dict[str, Any]) -> bool:
    """A found container (``State`` of its inspect) that already ran: awaited, never started again."""
    finished = str(state.get("FinishedAt") or "0001-")
    return bool(state.get("Running")) or not finished.startswith("0001-")


class Output:
    """A run's output as :class:`RunOutput` chunks numbered from ``seq`` 0, and its last
    :data:`LAST_LINES` lines (stdout and stderr together, in arrival order)."""

    def __init__(self, run_id: str, first_seq: int = 0) -> None:
        self.run_id = run_id
        self.seq = first_seq
        self.last: deque[str] = deque(maxlen=LAST_LINES)
        self._partial = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def chunks(self, stream: Stream, data: bytes) -> list[RunOutput]:
        self._lines(self._decoder.decode(data))
        out = []
        for start in range(0, len(data), MAX_CHUNK_BYTES):
            part = data[start : start + MAX_CHUNK_BYTES]
            out.append(RunOutput(run_id=self.run_id, seq=self.seq, stream=stream, data=part))
            self.seq += 1
        return out

    def end(self, exit_code: int | None) -> RunOutput:
        """The stream's last message (``eof``); the partial last line counts as a line."""
        self._lines(self._decoder.decode(b"", final=True))
        if self._partial:
            self.last.append(self._partial[:MAX_LINE_CHARS])
            self._partial = ""
        message = RunOutput(run_id=self.run_id, seq=self.seq, eof=True, exit_code=exit_code)
        self.seq += 1
        return message

    def _lines(self, text: str) -> None:
        *whole, self._partial = (self._partial + text).split("\n")
        if len(self._partial) > MAX_LINE_CHARS:  # a line without end: cut, never held forever
            whole.append(self._partial)
            self._partial = ""
        self.last.extend(line.rstrip("\r")[:MAX_LINE_CHARS] for line in whole)


def last_lines_of(logged: list[str]) -> list[str]:
    """The last :data:`LAST_LINES` lines of the engine's log of a run (an adopted run's lines
    before the adoption were read by the agent before)."""
    text = "".join(logged)
    lines = [line.rstrip("\r")[:MAX_LINE_CHARS] for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    return lines[-LAST_LINES:]


def outcome_of(*, stopped: bool, timed_out: bool, gone: bool = False) -> RunOutcome:
    if stopped:
        return "stopped"
    if timed_out:
        return "timed_out"
    if gone:  # its container was removed under it (the app deleted): no exit code
        return "lost"
    return "exited"


def finished(
    run: DesiredRun | None,
    app_id: str,
    run_id: str,
    *,
    exit_code: int | None,
    stopped: bool,
    timed_out: bool,
    duration_ms: int,
    last: list[str],
    stop_reason: str = "",
    gone: bool = False,
) -> RunFinished:
    """The run's end as the API records it."""
    outcome = outcome_of(stopped=stopped, timed_out=timed_out, gone=gone)
    reason = ""
    if outcome == "timed_out":
        reason = f"timed out after {run.timeout_seconds if run else '?'} s"
    elif outcome == "stopped":
        reason = stop_reason or "stopped"
    elif outcome == "lost":
        reason = "its container was removed while it ran"
    return RunFinished(
        app_id=app_id,
        run_id=run_id,
        outcome=outcome,
        exit_code=exit_code,
        reason=reason,
        duration_ms=max(0, duration_ms),
        last_lines=list(last),
    )


def failed_to_start(app_id: str, run_id: str, reason: str) -> RunFinished:
    return RunFinished(app_id=app_id, run_id=run_id, outcome="failed_to_start", reason=reason)


def remaining_seconds(timeout_seconds: int, ran_seconds: float) -> float:
    """How long a run may still run (an adopted run has already run ``ran_seconds``)."""
    return max(0.0, timeout_seconds - ran_seconds)
