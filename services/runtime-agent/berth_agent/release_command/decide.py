"""The release command's output and outcome (ADR 0026 §3), pure: text chunks into lines, the
last lines kept for the failure's reason, and the reason itself."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

LAST_LINES = 10
MAX_LINE_CHARS = 8192


class Lines:
    """Chunks of output into whole lines (a partial line waits for its end, or :meth:`finish`);
    the last :data:`LAST_LINES` are kept."""

    def __init__(self) -> None:
        self._partial = ""
        self.last: deque[str] = deque(maxlen=LAST_LINES)

    def feed(self, chunk: str) -> list[str]:
        text = self._partial + chunk
        *whole, self._partial = text.split("\n")
        if len(self._partial) > MAX_LINE_CHARS:  # a line without end: cut, never held forever
            whole.append(self._partial)
            self._partial = ""
        return self._keep(whole)

    def finish(self) -> list[str]:
        rest, self._partial = self._partial, ""
        return self._keep([rest] if rest else [])

    def _keep(self, lines: Iterable[str]) -> list[str]:
        cut = [line.rstrip("\r")[:MAX_LINE_CHARS] for line in lines]
        self.last.extend(cut)
        return cut


def failure_reason(exit_code: int, timed_out: bool, timeout_seconds: int, last: Iterable[str]) -> str | None:
    """Why the release fails, or None when the command succeeded."""
    tail = "\n".join(last)
    if timed_out:
        head = f"release command timed out after {timeout_seconds} s"
    elif exit_code != 0:
        head = f"release command exited with {exit_code}"
    else:
        return None
    return f"{head}: {tail}" if tail else head
