"""``ADD <url>`` in a Dockerfile, found before the engine sees it (pure; mypy strict).

The engine fetches an ``ADD`` source that is a URL itself, from the host's network namespace:
the app egress firewall does not apply to it, so it could reach link-local metadata, the
host's private networks or the platform's own ports. A build must download in a ``RUN`` step
instead (on the build network, under the egress rules) or ship the file in its context.

The parse follows Docker's: parser directives (``# escape=``), line continuations (comment lines
inside them dropped), instructions in any case, ``ONBUILD ADD``, flags (``--checksum=…``,
``--chown=…``), the JSON form, and ``$VAR``/``${VAR}``/``${VAR:-default}`` from earlier ``ARG``
and ``ENV`` defaults (Berth passes no build arguments).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.*?)\s*$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-+]([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


@dataclass(frozen=True)
class Instruction:
    line: int  # where it starts, from 1
    keyword: str  # upper case
    rest: str


@dataclass(frozen=True)
class RemoteAdd:
    line: int
    source: str

    def message(self) -> str:
        return (
            f"line {self.line}: ADD {self.source} is refused: the engine would download it from the "
            "host's network; download it in a RUN step (curl, wget) or put the file in the build context"
        )


def escape_char(text: str) -> str:
    """The ``# escape=`` parser directive at the top (``\\`` by default)."""
    for raw in text.splitlines():
        found = _DIRECTIVE.match(raw.strip())
        if not found:
            break
        if found.group(1).lower() == "escape" and found.group(2) in ("`", "\\"):
            return found.group(2)
    return "\\"


def instructions(text: str) -> list[Instruction]:
    """Logical instructions: continuations joined, comments and blank lines dropped."""
    escape = escape_char(text)
    found: list[Instruction] = []
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not parts):
            continue  # a comment (also inside a continuation), or a blank line between instructions
        if not parts:
            start = number
        if stripped.endswith(escape):
            parts.append(stripped[:-1])
            continue
        parts.append(stripped)
        found.append(_instruction(start, " ".join(p for p in parts if p)))
        parts = []
    if parts:
        found.append(_instruction(start, " ".join(p for p in parts if p)))
    return found


def _instruction(line: int, text: str) -> Instruction:
    keyword, _, rest = text.partition(" ")
    return Instruction(line, keyword.upper(), rest.strip())


def arguments(rest: str) -> list[str]:
    """``ADD``'s words: the JSON form, or whitespace-separated words (quotes removed)."""
    if rest.startswith("["):
        try:
            parsed = json.loads(rest)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(p, str) for p in parsed):
            return [str(p) for p in parsed]
    return [word.strip("\"'") for word in rest.split()]


def expand(word: str, variables: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        if name in variables:
            return variables[name]
        return match.group(2) or ""

    return _VARIABLE.sub(value, word)


def _remember(keyword: str, rest: str, variables: dict[str, str]) -> None:
    """``ARG name=default`` and ``ENV name=value``/``ENV name value`` set what ``$name`` expands to."""
    words = arguments(rest)
    if keyword == "ENV" and len(words) >= 2 and "=" not in words[0]:
        variables[words[0]] = expand(" ".join(words[1:]), variables)
        return
    for word in words:
        name, eq, default = word.partition("=")
        if eq:
            variables[name] = expand(default, variables)
        elif keyword == "ARG":
            variables.setdefault(name, "")


def remote_adds(text: str) -> list[RemoteAdd]:
    """Every ``ADD`` (also under ``ONBUILD``) whose source is a URL."""
    variables: dict[str, str] = {}
    found: list[RemoteAdd] = []
    for instruction in instructions(text):
        keyword, rest = instruction.keyword, instruction.rest
        if keyword == "ONBUILD":
            inner = _instruction(instruction.line, rest)
            keyword, rest = inner.keyword, inner.rest
        if keyword in ("ARG", "ENV"):
            _remember(keyword, rest, variables)
            continue
        if keyword != "ADD":
            continue
        words = [w for w in arguments(rest) if w]
        while words and words[0].startswith("--"):
            words = words[1:]
        for source in words[:-1]:
            expanded = expand(source, variables)
            if _SCHEME.match(expanded) or expanded.startswith("git@"):
                found.append(RemoteAdd(instruction.line, expanded))
    return found
