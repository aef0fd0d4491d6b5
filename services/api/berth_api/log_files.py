"""Berth's own logs: the tail of ``$BERTH_HOME/logs/<process>.log``, read backwards in blocks.

The launcher writes each process's stdout/stderr there; services write JSON lines with
``ts``, ``level``, ``service``, ``msg`` and, where they concern one app, ``app_id`` and
``release_id``. Reads are bounded: at most :data:`MAX_SCAN_BYTES` from the end of each file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

SERVICES = ("api", "runtime-agent", "router", "logs", "health")
PROCESSES = (*SERVICES, "postgres", "nats", "caddy")
MAX_SCAN_BYTES = 8 * 1024 * 1024
BLOCK = 64 * 1024


def tail_lines(
    path: Path, want: int, keep: Callable[[str], bool], *, max_scan: int = MAX_SCAN_BYTES, block: int = BLOCK
) -> list[str]:
    """The last ``want`` lines of ``path`` for which ``keep`` is true, oldest first, reading at
    most ``max_scan`` bytes from the end (a missing file has no lines)."""
    found: list[str] = []  # newest first
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return []
    with f:
        pos = f.seek(0, 2)
        scanned = 0
        rest = b""
        while pos > 0 and len(found) < want and scanned < max_scan:
            step = min(block, pos, max_scan - scanned)
            pos -= step
            f.seek(pos)
            rest = f.read(step) + rest
            scanned += step
            parts = rest.split(b"\n")
            rest = parts[0]
            for raw in reversed(parts[1:]):
                if _take(raw, keep, found) and len(found) >= want:
                    break
        if pos == 0 and len(found) < want:
            _take(rest, keep, found)
    return list(reversed(found[:want]))


def _take(raw: bytes, keep: Callable[[str], bool], found: list[str]) -> bool:
    if not raw.strip():
        return False
    line = raw.decode("utf-8", "replace").rstrip("\r")
    if keep(line):
        found.append(line)
        return True
    return False


def entry(process: str, line: str) -> dict[str, Any]:
    """One platform log line as the API shows it (fields parsed when it is a JSON line)."""
    try:
        data = json.loads(line)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return {
            "service": process,
            "timestamp": None,
            "level": None,
            "message": line,
            "appId": None,
            "releaseId": None,
            "line": line,
        }
    return {
        "service": str(data.get("service") or process),
        "timestamp": data.get("ts"),
        "level": data.get("level"),
        "message": str(data.get("msg", line)) + (f"\n{data['exc']}" if data.get("exc") else ""),
        "appId": data.get("app_id"),
        "releaseId": data.get("release_id"),
        "line": line,
    }


def matcher(q: str | None, app_id: str | None) -> Callable[[str], bool]:
    needle = q.lower() if q else None

    def keep(line: str) -> bool:
        if needle is not None and needle not in line.lower():
            return False
        if app_id is not None:
            if app_id not in line:
                return False
            try:
                data = json.loads(line)
            except ValueError:
                return False
            return isinstance(data, dict) and data.get("app_id") == app_id
        return True

    return keep


def read(
    logs_dir: Path, processes: tuple[str, ...], *, limit: int, q: str | None, app_id: str | None
) -> list[dict[str, Any]]:
    """The newest ``limit`` matching lines across ``processes``, oldest first."""
    keep = matcher(q, app_id)
    entries: list[dict[str, Any]] = []
    for process in processes:
        last_ts = ""
        for line in tail_lines(logs_dir / f"{process}.log", limit, keep):
            e = entry(process, line)
            # Lines without a timestamp sort with the line before them.
            last_ts = e["timestamp"] or last_ts
            entries.append({**e, "_sort": last_ts})
    if len(processes) > 1:
        entries.sort(key=lambda e: e["_sort"])
    for e in entries:
        del e["_sort"]
    return entries[-limit:]
