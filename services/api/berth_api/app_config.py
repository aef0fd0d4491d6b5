"""`berth.toml`: an app's configuration kept with its source (like fly.toml), applied on deploy.

    port = 8080
    deploy_timeout = 60          # seconds
    stop_timeout = 10            # seconds
    [resources]
    memory_mb = 256
    cpus = 0.5
    [health]                     # the same settings as PUT /api/apps/{id}/health, in snake_case
    path = "/healthz"
    interval_seconds = 10
    release = "python manage.py migrate"   # the formation: [processes], release, [[cron]]
    [processes]                            # (berth_api.formation; ADR 0026)
    worker = { command = "python worker.py", count = 1 }

Parsed and validated here (pure); every problem names its key as ``berth.toml: <key>``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from typing import Any

import msgspec
from berth_shared.contracts.health import HealthCheck
from berth_shared.contracts.processes import Formation
from berth_shared.errors import FieldError, ValidationFailed
from pydantic import ValidationError as PydanticValidationError

from berth_api.formation import SECTIONS, given_sections, parse_formation
from berth_api.validation import HealthCheckIn

LIMITS: dict[str, tuple[type, float, float]] = {
    "port": (int, 1, 65535),
    "deploy_timeout": (int, 5, 3600),
    "stop_timeout": (int, 0, 600),
    "resources.memory_mb": (int, 32, 65536),
    "resources.cpus": (float, 0.05, 64),
}


@dataclass(frozen=True)
class AppConfig:
    values: dict[str, Any]
    health: HealthCheck | None = None
    # The formation the file states, and which of its sections (processes, release, cron) it
    # states: only those replace the previous release's (``formation.merge``). None: none stated.
    formation: Formation | None = None
    sections: frozenset[str] = frozenset()

    def as_json(self) -> dict[str, Any]:
        data = dict(self.values)
        if self.health is not None:
            data["health"] = msgspec.to_builtins(self.health)
        if self.formation is not None:
            stated = msgspec.to_builtins(self.formation)
            data["formation"] = {
                key: stated[field]
                for key, field in (("processes", "processes"), ("release", "release_command"), ("cron", "cron"))
                if key in self.sections
            }
        return data


def settings_recorded(data: dict[str, Any]) -> AppConfig:
    """The settings part (values and health) of a release's recorded berth.toml (``as_json``),
    which a rollback to that release applies again; its formation comes back with the release."""
    values = {key: data[key] for key in LIMITS if key in data}
    health = msgspec.convert(data["health"], HealthCheck) if data.get("health") is not None else None
    return AppConfig(values, health)


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def _health(table: dict[str, Any]) -> HealthCheck:
    try:
        return HealthCheckIn.model_validate({_camel(k): v for k, v in table.items()}).to_contract()
    except PydanticValidationError as exc:
        problems = [
            FieldError(f"berth.toml: health.{_snake(str(e['loc'][0]))}" if e["loc"] else "berth.toml: health", e["msg"])
            for e in exc.errors()
        ]
        raise ValidationFailed("; ".join(f"{p.field}: {p.message}" for p in problems), details=problems) from None


def _snake(key: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def parse(text: str) -> AppConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationFailed.on("berth.toml", f"not valid TOML: {exc}") from None
    health_table = data.pop("health", None)
    health = None
    if health_table is not None:
        if not isinstance(health_table, dict):
            raise ValidationFailed.on("berth.toml: health", "must be a table ([health])")
        health = _health(health_table)
    problems: list[FieldError] = []
    formation_data = {key: data.pop(key) for key in SECTIONS if key in data}
    sections = given_sections(formation_data, style="toml")
    formation = None
    try:
        formation = parse_formation(formation_data, style="toml") if sections else None
    except ValidationFailed as exc:
        problems.extend(exc.details)
    values: dict[str, Any] = {}
    for key, value in _flatten(data).items():
        field = f"berth.toml: {key}"
        if key not in LIMITS:
            known = ", ".join(sorted([*LIMITS, "health", *SECTIONS]))
            problems.append(FieldError(field, f"unknown setting; known: {known}"))
            continue
        kind, lo, hi = LIMITS[key]
        ok_type = isinstance(value, int | float) if kind is float else isinstance(value, int)
        if isinstance(value, bool) or not ok_type:
            problems.append(FieldError(field, f"must be a {'number' if kind is float else 'whole number'}"))
        elif not lo <= value <= hi:
            problems.append(FieldError(field, f"must be between {lo:g} and {hi:g}"))
        else:
            values[key] = kind(value)
    if problems:
        raise ValidationFailed("; ".join(f"{p.field}: {p.message}" for p in problems), details=problems)
    return AppConfig(values, health, formation, sections)


# berth.toml key -> apps column
COLUMNS = {
    "port": "port",
    "deploy_timeout": "deploy_timeout_seconds",
    "stop_timeout": "stop_timeout_seconds",
    "resources.memory_mb": "memory_mb",
    "resources.cpus": "cpus",
}
