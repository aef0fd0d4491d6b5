"""Shared bits of the benchmarks: the platform under test and small statistics."""

from __future__ import annotations

import json
import statistics
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


def write_report(name: str, data: dict[str, object], markdown: str) -> Path:
    REPORTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    data = {"benchmark": name, "at": stamp, **data}
    (REPORTS / f"{name}.json").write_text(json.dumps(data, indent=2))
    path = REPORTS / f"{name}.md"
    path.write_text(f"# {name} ({stamp})\n\n{markdown}\n")
    print(markdown)
    return path
