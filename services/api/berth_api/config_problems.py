"""Collecting every problem of a configuration given as ``berth.toml`` or as a JSON body.

The same rules hold for both; only the spelling differs: ``berth.toml`` uses snake_case keys
and each problem is named ``berth.toml: <path>``, the HTTP API uses camelCase keys and names the
body's path. Used by ``formation`` and ``volume_config``. Pure.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Literal

from berth_shared.errors import FieldError, ValidationFailed

Style = Literal["toml", "json"]


class Problems:
    def __init__(self, style: Style, camel: Mapping[str, str]) -> None:
        self.style = style
        self.camel = camel
        self.found: list[FieldError] = []

    def key(self, name: str) -> str:
        """How ``name`` (snake_case) is spelled in this style's input."""
        return self.camel.get(name, name) if self.style == "json" else name

    def path(self, *parts: str | int) -> str:
        text = ""
        for part in parts:
            text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
        return f"berth.toml: {text}" if self.style == "toml" else text

    def add(self, message: str, *parts: str | int) -> None:
        self.found.append(FieldError(self.path(*parts), message))

    def raise_any(self) -> None:
        if self.found:
            raise ValidationFailed("; ".join(f"{p.field}: {p.message}" for p in self.found), details=self.found)


def table(raw: Any, problems: Problems, *parts: str | int) -> Mapping[str, Any] | None:
    if isinstance(raw, Mapping):
        return raw
    problems.add("must be a table" if problems.style == "toml" else "must be an object", *parts)
    return None


def unknown(given: Mapping[str, Any], known: Collection[str], problems: Problems, *parts: str | int) -> None:
    spelled = sorted(problems.key(k) for k in known)
    for key in given:
        if key not in spelled:
            problems.add(f"unknown setting; known: {', '.join(spelled)}", *parts, str(key))


def whole(raw: Any, low: int, high: int, problems: Problems, *parts: str | int) -> int | None:
    if isinstance(raw, bool) or not isinstance(raw, int):
        problems.add("must be a whole number", *parts)
        return None
    if not low <= raw <= high:
        problems.add(f"must be between {low} and {high}", *parts)
        return None
    return raw
