"""Process family: what an app runs from each release besides one web server (ADR 0026).

A release records its whole *formation*: the process types (each with its command, count and
resources; ``web`` is the routed one), the release command run once before anything flips, and
the cron jobs. The API validates it once at the boundary (``berth.toml`` or the HTTP API,
``berth_api.formation``) and sends the processes and the release command to the runtime agent in
``DesiredRelease``; cron jobs stay with the API, which schedules them. A release without a
formation (every release before issue 17) runs one ``web`` process from the image's CMD.

Commands are argv lists: a string in ``berth.toml`` or the API is split like a POSIX shell
splits words (``shlex``), without a shell: write ``sh -c "…"`` for pipes or ``$VAR``. The image's
ENTRYPOINT stays, as with ``docker run IMAGE COMMAND``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, Literal

import msgspec

WEB: Final = "web"
# The ``process`` of containers that are not a process type; no process type may be named so.
RUN: Final = "run"
CRON: Final = "cron"
RELEASE: Final = "release"
RESERVED_NAMES: Final = frozenset({RUN, CRON, RELEASE})

PROCESS_NAME = re.compile(r"[a-z][a-z0-9-]{0,29}")
CRON_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
MAX_PROCESS_TYPES = 8
MAX_COUNT = 10
MAX_CRON_JOBS = 50
MAX_COMMAND_CHARS = 4096
RELEASE_TIMEOUT_DEFAULT, RELEASE_TIMEOUT_MAX = 300, 3600
CRON_TIMEOUT_DEFAULT, CRON_TIMEOUT_MAX = 3600, 86400
# ``allow``: at most this many runs of one job at once.
CRON_ALLOW_MAX = 3

Concurrency = Literal["forbid", "allow", "replace"]
CONCURRENCY: Final = ("forbid", "allow", "replace")


class ProcessSpec(msgspec.Struct, kw_only=True, frozen=True):
    """One process type. ``command`` empty: the image's CMD (allowed for ``web`` only).
    ``memory_mb``/``cpus`` None: the app's resources."""

    name: str
    command: list[str] = []
    count: int = 1
    memory_mb: int | None = None
    cpus: float | None = None


class ReleaseCommand(msgspec.Struct, kw_only=True, frozen=True):
    """Run once per release in a one-off container of the new image with the new env, after the
    image is resolved and before any process flips; a non-zero exit or the timeout fails the release."""

    command: list[str]
    timeout_seconds: int = RELEASE_TIMEOUT_DEFAULT


class CronJob(msgspec.Struct, kw_only=True, frozen=True):
    """A scheduled one-off run of the app's live release. ``schedule``: 5-field cron, a macro
    (``@hourly`` …) or ``@every 30s`` (``berth_api.cron.schedule``), in ``timezone``."""

    name: str
    schedule: str
    command: list[str]
    timezone: str = "UTC"
    timeout_seconds: int = CRON_TIMEOUT_DEFAULT
    concurrency: Concurrency = "forbid"
    # A due time more than one interval late is recorded ``missed``; with catch_up the latest
    # missed one still runs (once).
    catch_up: bool = False


class Formation(msgspec.Struct, kw_only=True, frozen=True):
    processes: list[ProcessSpec] = []
    release_command: ReleaseCommand | None = None
    cron: list[CronJob] = []


DEFAULT_WEB = ProcessSpec(name=WEB)


def processes_of(formation: Formation | None) -> list[ProcessSpec]:
    """Every process type, ``web`` first (implicitly one from the image's CMD when not named),
    then the others by name."""
    declared = {p.name: p for p in (formation.processes if formation else [])}
    web = declared.pop(WEB, DEFAULT_WEB)
    return [web, *(declared[name] for name in sorted(declared))]


def counts_of(formation: Formation | None) -> dict[str, int]:
    return {p.name: p.count for p in processes_of(formation)}


def with_counts(formation: Formation | None, counts: Mapping[str, int]) -> Formation:
    """The formation with the counts a scale set since its release (names it lacks are ignored)."""
    base = formation or Formation()
    scaled = [msgspec.structs.replace(p, count=counts[p.name]) if p.name in counts else p for p in processes_of(base)]
    return msgspec.structs.replace(base, processes=scaled)
