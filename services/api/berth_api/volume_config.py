"""An app's volumes as ``berth.toml`` or the HTTP API state them, validated once (ADR 0028 §1).

    [[volumes]]
    name = "data"                  # [a-z][a-z0-9-]{0,29}, unique per app
    mount_path = "/data"           # mountPath in JSON; absolute, stored normalised
    size_mb = 2048                 # sizeMb in JSON; 64 up to BERTH_VOLUME_MAX_MB, default 1024
    processes = ["web", "worker"]  # default: every process, the release command, cron and runs

A mount path is not ``/``, not under ``/proc``, ``/sys``, ``/dev`` or ``/run/secrets``, not one of
the files the engine writes (``/etc/hosts``, ``/etc/hostname``, ``/etc/resolv.conf``), and
neither inside nor around another volume's. At most four volumes per app.

Pure: data in, :class:`VolumeSpec` values or :class:`ValidationFailed` (with every problem, each
named by its path) out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import msgspec
from berth_shared.contracts.processes import RESERVED_NAMES
from berth_shared.contracts.volumes import (
    DEFAULT_SIZE_MB,
    MAX_SIZE_MB,
    MAX_VOLUMES_PER_APP,
    MIN_SIZE_MB,
    VOLUME_NAME,
)

from berth_api.config_problems import Problems, Style, table, unknown, whole

_CAMEL = {"mount_path": "mountPath", "size_mb": "sizeMb"}
KNOWN = ("name", "mount_path", "size_mb", "processes")
# Kernel and engine territory: a volume there would hide what the container needs, or the secrets.
FORBIDDEN_TREES = ("/proc", "/sys", "/dev", "/run/secrets")
# Files the engine bind-mounts into every container itself.
FORBIDDEN_FILES = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")
MAX_PATH_CHARS = 1024


class VolumeSpec(msgspec.Struct, kw_only=True, frozen=True):
    """One volume as the user asked for it. ``processes`` None: every container of the app."""

    name: str
    mount_path: str
    size_mb: int = DEFAULT_SIZE_MB
    processes: list[str] | None = None


def parse_volume(
    data: Any,
    *,
    style: Style,
    process_types: Collection[str],
    others: Mapping[str, str] | None = None,
    max_mb: int = MAX_SIZE_MB,
) -> VolumeSpec:
    """One volume (``POST /api/apps/{id}/volumes``). ``others``: the app's other volumes, name ->
    mount path (without this one when it is changed); ``process_types``: the formation's."""
    problems = Problems(style, _CAMEL)
    others = others or {}
    spec = _volume(data, problems, process_types, max_mb)
    if spec is not None:
        if len(others) >= MAX_VOLUMES_PER_APP:
            problems.add(f"an app has at most {MAX_VOLUMES_PER_APP} volumes", "name")
        _clashes([((), spec)], others, problems)
    problems.raise_any()
    assert spec is not None  # every path that returns None added a problem
    return spec


def parse_volumes(
    raw: Any, *, style: Style = "toml", process_types: Collection[str], max_mb: int = MAX_SIZE_MB
) -> list[VolumeSpec]:
    """``berth.toml``'s ``[[volumes]]`` (or a JSON list): every volume, checked against each other."""
    problems = Problems(style, _CAMEL)
    if not isinstance(raw, list):
        problems.add("must be a list of volumes ([[volumes]] tables)" if style == "toml" else "must be a list",
                     "volumes")  # fmt: skip
        problems.raise_any()
    if len(raw) > MAX_VOLUMES_PER_APP:
        problems.add(f"an app has at most {MAX_VOLUMES_PER_APP} volumes", "volumes")
        problems.raise_any()
    found: list[tuple[tuple[str | int, ...], VolumeSpec]] = []
    for index, value in enumerate(raw):
        spec = _volume(value, problems, process_types, max_mb, "volumes", index)
        if spec is not None:
            _clashes([(("volumes", index), spec)], {other.name: other.mount_path for _, other in found}, problems)
            found.append((("volumes", index), spec))
    problems.raise_any()
    return [spec for _, spec in found]


def normalised_mount_path(raw: Any) -> tuple[str | None, str]:
    """``(path, "")`` with the path normalised (no ``.``, empty components or trailing ``/``), or
    ``(None, why)`` when it cannot be a volume's mount path."""
    if not isinstance(raw, str):
        return None, "must be a string"
    if any(ord(c) < 0x20 or c == "\x7f" for c in raw):
        return None, "must not contain control characters"
    if not raw.startswith("/"):
        return None, "must be an absolute path (starting with /)"
    if len(raw) > MAX_PATH_CHARS:
        return None, f"is longer than {MAX_PATH_CHARS} characters"
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        return None, "must not contain '..'"
    path = "/" + "/".join(parts)
    if path == "/":
        return None, "must not be / (the container's root filesystem)"
    for tree in FORBIDDEN_TREES:
        if _within(path, tree):
            return None, f"must not be {tree} or under it"
    if path in FORBIDDEN_FILES:
        return None, f"must not be {path} (the engine writes it)"
    return path, ""


def _within(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree + "/")


def _volume(
    raw: Any, problems: Problems, process_types: Collection[str], max_mb: int, *parts: str | int
) -> VolumeSpec | None:
    given = table(raw, problems, *parts)
    if given is None:
        return None
    unknown(given, KNOWN, problems, *parts)
    before = len(problems.found)
    name = given.get("name")
    if "name" not in given:
        problems.add("required", *parts, "name")
    elif not isinstance(name, str) or not VOLUME_NAME.fullmatch(name):
        problems.add("a volume name is 1-30 lowercase letters, digits and '-', starting with a letter", *parts, "name")
    path_key = problems.key("mount_path")
    path: str | None = None
    if path_key not in given:
        problems.add("required", *parts, path_key)
    else:
        path, why = normalised_mount_path(given[path_key])
        if path is None:
            problems.add(why, *parts, path_key)
    size_key = problems.key("size_mb")
    size = whole(given.get(size_key, DEFAULT_SIZE_MB), MIN_SIZE_MB, max_mb, problems, *parts, size_key)
    processes = _processes(given["processes"], process_types, problems, *parts) if "processes" in given else None
    if len(problems.found) > before or path is None or size is None:
        return None
    return VolumeSpec(name=str(name), mount_path=path, size_mb=size, processes=processes)


def _processes(raw: Any, process_types: Collection[str], problems: Problems, *parts: str | int) -> list[str] | None:
    if not isinstance(raw, list) or not raw or not all(isinstance(p, str) for p in raw):
        problems.add("must be a non-empty list of process type names", *parts, "processes")
        return None
    allowed = set(process_types) | RESERVED_NAMES
    strangers = [p for p in raw if p not in allowed]
    if strangers:
        known, own = ", ".join(sorted(process_types)), ", ".join(sorted(RESERVED_NAMES))
        message = (
            f"not a process of this app: {', '.join(strangers)} (it has {known}; and {own} for its one-off containers)"
        )
        problems.add(message, *parts, "processes")
        return None
    return list(dict.fromkeys(raw))


def _clashes(
    specs: Iterable[tuple[tuple[str | int, ...], VolumeSpec]], others: Mapping[str, str], problems: Problems
) -> None:
    path_key = problems.key("mount_path")
    for parts, spec in specs:
        if spec.name in others:
            problems.add(f"another volume of this app is named {spec.name!r}", *parts, "name")
        for name, other in sorted(others.items()):
            if other == spec.mount_path:
                problems.add(f"volume {name!r} is mounted there already", *parts, path_key)
            elif _within(spec.mount_path, other):
                problems.add(f"is inside volume {name!r}'s mount path {other}", *parts, path_key)
            elif _within(other, spec.mount_path):
                problems.add(f"contains volume {name!r}'s mount path {other}", *parts, path_key)
