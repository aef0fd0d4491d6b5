"""Shared bits of the benchmarks: the platform under test and small statistics."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

REPORTS = ROOT / "bench" / "reports"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 0.5),
        "p90": percentile(values, 0.9),
        "max": max(values) if values else float("nan"),
        "mean": statistics.fmean(values) if values else float("nan"),
    }


PLATFORM_CODE = ("shared", "services", "cli")


def code_measured() -> str:
    """The last commit that changed the platform's code, and whether the tree has changes to it
    not committed yet: what a report measured."""

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True).stdout.strip()

    commit = git("log", "-1", "--format=%h", "--", *PLATFORM_CODE) or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", *PLATFORM_CODE)
    return f"{commit} + uncommitted changes" if dirty else commit


def write_report(name: str, data: dict[str, object], markdown: str) -> Path:
    REPORTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    code = code_measured()
    data = {"benchmark": name, "at": stamp, "code": code, **data}
    (REPORTS / f"{name}.json").write_text(json.dumps(data, indent=2))
    path = REPORTS / f"{name}.md"
    path.write_text(f"# {name} ({stamp}, code {code})\n\n{markdown}\n")
    print(markdown)
    return path
