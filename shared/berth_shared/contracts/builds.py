"""Builds from source: the API stores the uploaded build context in a JetStream object store
bucket; the runtime agent builds it with the Docker engine when the release's image is missing.

Object store bucket: ``BERTH_BUILDS`` (object name = the release id). The build itself is part
of the desired release (``DesiredRelease.build``), so an agent restarted mid-build simply builds
again. Build output: ``BuildLog`` events on ``berth.evt.agent.release.build_log.<app_id>``.
"""

from __future__ import annotations

import msgspec

from berth_shared.contracts.base import Message

BUILDS_BUCKET = "BERTH_BUILDS"
MAX_CONTEXT_BYTES = 200 * 1024 * 1024  # the upload as sent (compressed)
MAX_UNPACKED_CONTEXT_BYTES = 1024 * 1024 * 1024  # what the engine would unpack (tar headers and data)


class BuildSpec(msgspec.Struct, kw_only=True):
    context_object: str
    size_bytes: int
    dockerfile: str = "Dockerfile"
    timeout_seconds: int = 600
    memory_mb: int = 1024
    cpus: float = 1.0


class BuildLog(Message, kw_only=True):
    """A chunk of build output (Docker's build stream), in order per release."""

    app_id: str
    release_id: str
    lines: list[str]
    seq: int = 0
    # ``build`` (the image build) or ``release`` (the release command's output, ADR 0026): both
    # are the release's log, in ``seq`` order per source.
    source: str = "build"
