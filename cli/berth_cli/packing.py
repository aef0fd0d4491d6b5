"""Packing a directory for `berth deploy APP DIR`: .dockerignore rules (pure) and the tar archive."""

from __future__ import annotations

import os
import re
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    negated: bool


def _to_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            if i < len(pattern) and pattern[i] == "/":
                i += 1
                out[-1] = "(?:.*/)?"
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("^" + "".join(out) + "$")


def parse_dockerignore(text: str) -> list[Rule]:
    """Rules in file order; later rules win, `!` re-includes (Docker's semantics, simplified)."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
        if line in ("", "."):
            continue
        rules.append(Rule(_to_regex(line), negated))
    return rules


def is_ignored(path: str, rules: list[Rule]) -> bool:
    """Is ``path`` (relative, with /) excluded? A path is excluded when it, or a directory above
    it, matches an exclusion that no later `!` rule re-includes."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for rule in rules:
        if any(rule.pattern.match(p) for p in prefixes):
            ignored = not rule.negated
    return ignored


def pack(directory: Path, dockerfile: str = "Dockerfile") -> tuple[IO[bytes], int, int]:
    """A gzip tar of ``directory`` without ignored files (the Dockerfile and .dockerignore are
    always kept, as Docker does). Returns (file positioned at 0, size in bytes, file count)."""
    ignore_file = directory / ".dockerignore"
    rules = parse_dockerignore(ignore_file.read_text()) if ignore_file.exists() else []
    always = {dockerfile, ".dockerignore"}
    out = tempfile.TemporaryFile()  # noqa: SIM115 - returned to the caller
    count = 0
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for root, dirs, files in os.walk(directory):
            rel_root = os.path.relpath(root, directory)
            rel_root = "" if rel_root == "." else rel_root
            dirs.sort()
            for name in sorted(files):
                rel = f"{rel_root}/{name}" if rel_root else name
                if rel not in always and is_ignored(rel, rules):
                    continue
                tar.add(os.path.join(root, name), arcname=rel, recursive=False)
                count += 1
    size = out.tell()
    out.seek(0)
    return out, size, count
