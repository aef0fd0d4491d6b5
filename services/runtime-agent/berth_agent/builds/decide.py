"""Builds from source, the pure part: the engine's ``/build`` query (limits, tag, labels), the
builder's JSON messages → log lines and an outcome, and the batching of lines into ``BuildLog``
chunks. No I/O here (mypy strict); ``builder.py`` does the fetching, building and publishing.

The legacy builder (``POST /build`` without ``version=2``) runs every ``RUN`` in a container that
gets the query's ``memory``/``memswap``/``cpuperiod``/``cpuquota``, so a build is capped like an app,
on the instance's build network under a cgroup parent with a process limit (``build_isolation``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from berth_shared import labels
from berth_shared.contracts.builds import BuildSpec

CPU_PERIOD_US = 100_000
MIN_CPU_QUOTA_US = 1_000  # the engine refuses less
BATCH_SECONDS = 0.2
BATCH_MAX_LINES = 500
BATCH_MAX_BYTES = 256 * 1024  # well under NATS' max_payload even JSON-escaped
LINE_MAX_CHARS = 8 * 1024
REASON_MAX_CHARS = 2_000
TRUNCATED = " [berth: line truncated]"

# "---> Running in 3f2a9c0d1e4b": the intermediate container of a RUN step.
_RUNNING_IN = re.compile(r"Running in ([0-9a-f]{12,64})\b")
# A step's shell or runtime refused a fork: the build's process limit was hit.
_NO_FORK = re.compile(r"can't fork|fork: (retry: )?Resource temporarily unavailable|EAGAIN.*fork", re.IGNORECASE)


def image_labels(instance: str, app_id: str, release_id: str) -> dict[str, str]:
    """Labels on the built image: whose it is (containers made from it inherit them, and they
    equal the container's own)."""
    return {labels.MANAGED: "true", labels.INSTANCE: instance, labels.APP: app_id, labels.RELEASE: release_id}


def built_for(inspected: Mapping[str, Any] | None, release_id: str) -> bool:
    """Whether a local image (``docker inspect``) is the one built for ``release_id``: a tag that
    exists but was built for something else (a deleted app of the same name, another instance
    on this engine, a hand-made tag) is built again, which moves the tag."""
    if not inspected:
        return False
    found = (inspected.get("Config") or {}).get("Labels") or {}
    return bool(found.get(labels.RELEASE) == release_id)


def build_params(
    spec: BuildSpec, tag: str, image_labels: Mapping[str, str], isolation: Mapping[str, str]
) -> dict[str, str]:
    """The query of ``POST /build``: no swap (``memswap`` = ``memory``), CPU as a CFS quota,
    intermediate containers removed even on failure, base images never pulled implicitly, and
    ``isolation`` (the build network and cgroup parent, ``build_isolation.isolation_params``)."""
    memory = spec.memory_mb * 1024 * 1024
    quota = max(MIN_CPU_QUOTA_US, round(spec.cpus * CPU_PERIOD_US))
    return {
        "t": tag,
        "dockerfile": spec.dockerfile,
        "rm": "1",
        "forcerm": "1",
        "pull": "0",
        "q": "0",
        "memory": str(memory),
        "memswap": str(memory),
        "cpuperiod": str(CPU_PERIOD_US),
        "cpuquota": str(quota),
        "labels": json.dumps(dict(image_labels), sort_keys=True),
        **isolation,
    }


def failure_reason(error: str, memory_mb: int | None = None, pids_max: int | None = None) -> str:
    """``build failed: <the builder's error>``; a step killed by SIGKILL (137) under the memory
    limit says so, and so does a step that could not fork (``pids_max``: it hit the process limit)."""
    text = " ".join(error.split()) or "the builder reported an error"
    if len(text) > REASON_MAX_CHARS:
        text = text[:REASON_MAX_CHARS] + "…"
    if memory_mb is not None and text.endswith("non-zero code: 137"):
        text += f" (killed: out of memory? builds are limited to {memory_mb} MiB)"
    if pids_max is not None:
        text += f" (out of processes: build steps are limited to {pids_max})"
    return f"build failed: {text}"


def timeout_reason(seconds: int) -> str:
    return f"build timed out after {seconds}s"


def cap_line(line: str) -> str:
    return line if len(line) <= LINE_MAX_CHARS else line[:LINE_MAX_CHARS] + TRUNCATED


class MessageSplitter:
    """The response body (JSON messages, one per line) → decoded messages; a line that is not
    a JSON object is kept as build output."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        *complete, self._rest = (self._rest + data).split(b"\n")
        return [m for raw in complete if (m := _decode(raw)) is not None]

    def finish(self) -> list[dict[str, Any]]:
        rest, self._rest = self._rest, b""
        found = _decode(rest)
        return [found] if found is not None else []


def _decode(raw: bytes) -> dict[str, Any] | None:
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return None
    try:
        decoded = json.loads(text)
    except ValueError:
        return {"stream": text + "\n"}
    return decoded if isinstance(decoded, dict) else {"stream": text + "\n"}


@dataclass
class BuildOutput:
    """Folds the builder's messages into log lines, the first error, the built image id and the
    intermediate containers it mentioned."""

    error: str = ""
    image_id: str = ""
    containers: list[str] = field(default_factory=list)
    fork_refused: bool = False
    _partial: str = ""

    def feed(self, message: Mapping[str, Any]) -> list[str]:
        lines: list[str] = []
        if isinstance(stream := message.get("stream"), str):
            lines += self._text(stream)
        if isinstance(status := message.get("status"), str) and not message.get("progressDetail"):
            ident = message.get("id")
            lines += [*self._flush(), cap_line(f"{ident}: {status}" if ident else status)]
        aux = message.get("aux")
        if isinstance(aux, Mapping) and isinstance(ident := aux.get("ID"), str):
            self.image_id = ident
        if error := _error_of(message):
            if not self.error:
                self.error = error
            lines += [*self._flush(), cap_line(f"ERROR: {error}")]
        return lines

    def feed_all(self, messages: Iterable[Mapping[str, Any]]) -> list[str]:
        return [line for m in messages for line in self.feed(m)]

    def finish(self) -> list[str]:
        return self._flush()

    @property
    def failed(self) -> bool:
        return bool(self.error)

    def _text(self, text: str) -> list[str]:
        *complete, self._partial = (self._partial + text).split("\n")
        lines = [cap_line(line.rstrip("\r")) for line in complete]
        for line in lines:
            if (found := _RUNNING_IN.search(line)) and found.group(1) not in self.containers:
                self.containers.append(found.group(1))
            if _NO_FORK.search(line):
                self.fork_refused = True
        if len(self._partial) > LINE_MAX_CHARS:  # no newline for far too long: emit what there is
            lines += self._flush()
        return lines

    def _flush(self) -> list[str]:
        partial, self._partial = self._partial.rstrip("\r"), ""
        return [cap_line(partial)] if partial else []


def _error_of(message: Mapping[str, Any]) -> str:
    if isinstance(error := message.get("error"), str) and error.strip():
        return error.strip()
    detail = message.get("errorDetail")
    if isinstance(detail, Mapping) and isinstance(text := detail.get("message"), str) and text.strip():
        return text.strip()
    # An error answered before the stream started has the API's shape: {"message": ...}.
    if set(message) == {"message"} and isinstance(text := message["message"], str) and text.strip():
        return text.strip()
    return ""


class LineBatcher:
    """Lines → ``BuildLog`` chunks: one every ``BATCH_SECONDS`` (or sooner when large), ``seq``
    from 0 without gaps, so the API applies them once and in order."""

    def __init__(self, start: int = 0) -> None:
        self.seq = start
        self._lines: list[str] = []
        self._bytes = 0
        self._since: float | None = None

    def add(self, lines: Iterable[str], now: float) -> None:
        for line in lines:
            if self._since is None:
                self._since = now
            self._lines.append(line)
            self._bytes += len(line.encode()) + 8

    def due(self, now: float) -> bool:
        if not self._lines:
            return False
        assert self._since is not None
        return (
            now - self._since >= BATCH_SECONDS or len(self._lines) >= BATCH_MAX_LINES or self._bytes >= BATCH_MAX_BYTES
        )

    def take(self) -> tuple[int, list[str]] | None:
        """The next chunk (seq, lines), at most ``BATCH_MAX_LINES``/``BATCH_MAX_BYTES``."""
        if not self._lines:
            return None
        chosen: list[str] = []
        size = 0
        for line in self._lines:
            cost = len(line.encode()) + 8
            if chosen and (len(chosen) >= BATCH_MAX_LINES or size + cost > BATCH_MAX_BYTES):
                break
            chosen.append(line)
            size += cost
        self._lines = self._lines[len(chosen) :]
        self._bytes -= size
        self._since = None if not self._lines else self._since
        seq, self.seq = self.seq, self.seq + 1
        return seq, chosen
