"""What formation each release records, and what the agent runs of it (ADR 0026 §1). Pure.

- A new release's formation: each section its request states (``berth.toml``, ``PUT
  formation``) replaces the previous release's, the others carry over (``formation.merge``), and
  the counts a scale stored on the app since are folded in — unless the request states
  ``processes`` (configuration as code wins). A rollback restores its target's formation.
- The agent runs the release's processes with the app's stored counts over them, and its
  release command only for releases that change code, formation or env (never a restart).
- A scale: the counts the app stores after ``PATCH processes/{name}``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import msgspec
from berth_shared.contracts.processes import (
    MAX_COUNT,
    Formation,
    ProcessSpec,
    ReleaseCommand,
    counts_of,
    processes_of,
    with_counts,
)
from berth_shared.errors import NotFound, ValidationFailed

from berth_api.formation import merge

# Release kinds that run the release command (a restart must not migrate; a scale is no release).
RUNS_RELEASE_COMMAND = frozenset({"deploy", "build", "rollback", "config"})


def decode(raw: str | bytes | None) -> Formation | None:
    """A ``releases.formation`` column (jsonb text); None: the release predates formations."""
    if raw is None:
        return None
    return msgspec.json.decode(raw.encode() if isinstance(raw, str) else raw, type=Formation)


def encode(formation: Formation | None) -> str | None:
    return msgspec.json.encode(formation).decode() if formation is not None else None


def decode_counts(raw: str | bytes | Mapping[str, Any] | None) -> dict[str, int]:
    """An ``apps.process_counts`` column: process name → count set by a scale."""
    if raw is None:
        return {}
    if isinstance(raw, Mapping):
        return {str(k): int(v) for k, v in raw.items()}
    return msgspec.json.decode(raw.encode() if isinstance(raw, str) else raw, type=dict[str, int])


def decode_reasons(raw: str | bytes | Mapping[str, Any] | None) -> dict[str, str]:
    """An ``apps.crashed_processes`` column: process name → why Berth stopped restarting it."""
    if raw is None:
        return {}
    if isinstance(raw, Mapping):
        return {str(k): str(v) for k, v in raw.items()}
    return msgspec.json.decode(raw.encode() if isinstance(raw, str) else raw, type=dict[str, str])


def next_formation(
    previous: Formation | None,
    given: Formation | None,
    sections: Collection[str],
    counts: Mapping[str, int],
) -> Formation | None:
    """The formation a new (non-rollback) release records. None: nothing stated ever (one web
    process from the image's CMD, as every release before issue 17)."""
    merged = merge(previous, given or Formation(), sections)
    if counts and "processes" not in sections:
        merged = with_counts(merged, counts)
    return None if merged == Formation() else merged


def effective_processes(formation: Formation | None, counts: Mapping[str, int]) -> list[ProcessSpec]:
    """What the agent runs (``DesiredRelease.processes``): the release's processes with the
    app's stored counts over them; empty when the release has no formation and nothing was
    scaled (older agents and releases: one web from the CMD)."""
    if formation is None and not counts:
        return []
    return processes_of(with_counts(formation, counts))


def release_command_for(kind: str, formation: Formation | None) -> ReleaseCommand | None:
    if formation is None or kind not in RUNS_RELEASE_COMMAND:
        return None
    return formation.release_command


def scaled_counts(formation: Formation | None, counts: Mapping[str, int], name: str, count: int) -> dict[str, int]:
    """The app's stored counts after setting process ``name`` to ``count``. NotFound when the
    release has no such process type (404); ``count`` out of range: 422 naming ``count``."""
    known = counts_of(formation)
    if name not in known:
        raise NotFound(f"the app has no process {name!r}; its processes: {', '.join(known)}")
    if not 0 <= count <= MAX_COUNT:
        raise ValidationFailed.on("count", f"must be between 0 and {MAX_COUNT}")
    return {**{k: v for k, v in counts.items() if k in known}, name: count}
