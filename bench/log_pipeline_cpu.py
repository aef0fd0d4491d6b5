"""CPU per log line in the agent's collector and the logs service's decode, stage by stage.

No Docker, NATS or Postgres: a synthesized multiplexed log stream, as
``containers/{id}/logs?follow=1&timestamps=1`` answers it (8-byte frame headers, Docker's
fixed 9-digit nanosecond timestamps, lines of 60-200 bytes: plain text, JSON with quotes to
escape, some non-ASCII), cut into reads at arbitrary offsets, goes through the code the
collector runs on each read (``Collector._read``): frames -> lines -> ``Collector._take_all``
(resume, skip check, budget, batcher; ``_take`` per line in older revisions) -> flushes
(``Batcher.take``, the ``LogBatch`` bytes ``_publish`` sends, the cursor's ``Progress``), and
the logs service turns those bytes into rows (``decode`` + ``check_batch`` + ``rows_of``, in
pulls of 16 messages). Each stage's output is materialised before the next runs, so a stage's
time is its own.

Two scenarios: ``budget`` (an app writing at its budget, 5,000 lines/s: every line kept) and
``flood`` (an app writing 10x its budget after its burst is spent: most lines dropped and counted).

``--against REV`` loads the same modules as they were at git revision REV (imports renamed, in
this process) and alternates the two versions, so their ratio is measured under the same load.

Usage: .venv/bin/python bench/log_pipeline_cpu.py [--against REV] [--lines N] [--repeat N]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib
import io
import os
import pstats
import random
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from _common import ROOT, write_report
from berth_shared.contracts.base import decode, encode
from berth_shared.contracts.logs import LogBatch
from berth_shared.log_budget import LogBudget

# The modules the pipeline runs, by the name they are imported under.
MODULES = {
    "frames": "berth_agent.logs.decide_frames",
    "budget": "berth_agent.logs.decide_budget",
    "batch": "berth_agent.logs.decide_batch",
    "run": "berth_agent.logs.run",
    "ingest": "berth_logs.ingest",
}
SOURCES = {
    "berth_agent": "services/runtime-agent/berth_agent",
    "berth_logs": "services/logs/berth_logs",
}
STAGES = (
    "decode frames",
    "assemble lines",
    "take (resume, skips, gate, batcher)",
    "flush (take, encode)",
    "ingest rows",
)
SCENARIOS = {"budget": 5_000, "flood": 50_000}  # lines/s the app writes
START_NANOS = 1_796_400_000 * 1_000_000_000  # 2026-12-04
PULL = 16  # messages per pull of the logs service
MAX_PAYLOAD = 8 * 1024 * 1024  # the launcher's NATS max_payload
CONTAINER = "c0ffee" * 10 + "beef"


# -- the stream ------------------------------------------------------------------------------


def docker_ts(nanos: int) -> str:
    seconds, fraction = divmod(nanos, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


def message(rng: random.Random, n: int) -> bytes:
    """One line of 60-200 bytes: an access log, a JSON log (quotes to escape) or text with an é."""
    size = rng.randint(60, 200)
    kind = n % 10
    if kind < 5:
        text = f'10.0.{n % 256}.{n % 7} - - "GET /api/items/{n}?page={n % 13} HTTP/1.1" 200 {n % 9000} ua='
    elif kind < 9:
        text = f'{{"level":"info","msg":"handled request","id":{n},"path":"/v1/orders/{n % 977}","detail":"'
    else:
        text = f"Résumé {n}: état mis à jour, durée {n % 1000} ms; "
    raw = text.encode()
    pad = b"abcdefghijklmnopqrstuvwxyz0123456789 " * 6
    return (raw + pad)[:size] if len(raw) < size else raw[:size]


def stream_bytes(lines: int, rate: int, seed: int = 14) -> bytes:
    """``lines`` frames (9 in 10 on stdout) written at ``rate`` lines/s, as Docker sends them."""
    rng = random.Random(seed)
    step = 1_000_000_000 // rate
    out = bytearray()
    nanos = START_NANOS
    for n in range(lines):
        nanos += rng.randint(step // 2, step * 3 // 2)
        payload = docker_ts(nanos).encode() + b" " + message(rng, n) + b"\n"
        out += struct.pack(">BxxxI", 2 if n % 10 == 9 else 1, len(payload)) + payload
    return bytes(out)


def reads(data: bytes, seed: int = 15) -> list[bytes]:
    """The stream as ``readany()`` hands it over: pieces of 1-64 KiB cut anywhere."""
    rng = random.Random(seed)
    pieces, at = [], 0
    while at < len(data):
        size = rng.randint(1024, 64 * 1024)
        pieces.append(data[at : at + size])
        at += size
    return pieces


# -- the code under test, current or at a revision -------------------------------------------


@dataclass
class Version:
    name: str
    mods: dict[str, ModuleType]


def current() -> Version:
    return Version("current", {key: importlib.import_module(name) for key, name in MODULES.items()})


def at_revision(rev: str, into: Path) -> Version:
    """The modules as they were at ``rev``, importable beside the current ones (``_r_`` prefix)."""
    for package, source in SOURCES.items():
        listing = subprocess.run(
            ["git", "-C", str(ROOT), "ls-tree", "-r", "--name-only", rev, source],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        for path in listing:
            if not path.endswith(".py"):
                continue
            text = subprocess.run(
                ["git", "-C", str(ROOT), "show", f"{rev}:{path}"], check=True, capture_output=True, text=True
            ).stdout
            for name in SOURCES:
                text = text.replace(f"{name}.", f"_r_{name}.").replace(f"import {name}", f"import _r_{name}")
            target = into / ("_r_" + package) / Path(path).relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    sys.path.insert(0, str(into))
    return Version(rev, {key: importlib.import_module("_r_" + name) for key, name in MODULES.items()})


# -- the pipeline, stage by stage ------------------------------------------------------------


@dataclass
class Run:
    seconds: dict[str, float] = field(default_factory=dict)
    kept: int = 0
    dropped: int = 0
    rows: int = 0


def collector(version: Version, flooded: bool) -> tuple[Any, Any]:
    """A Collector (no Docker, NATS or store: only its per-line methods run) and its read state;
    ``flooded``: the app's bucket starts empty (a flood that has spent its burst already)."""
    run, frames, budget, batch = (version.mods[k] for k in ("run", "frames", "budget", "batch"))
    limits = LogBudget()
    ref = run.ContainerRef(CONTAINER, "app01", "rel01", "a")
    bucket = budget.TokenBucket(limits.lines_per_second, limits.burst)
    if flooded:
        bucket.tokens, bucket.at, bucket.dry = 0.0, START_NANOS, True
    max_bytes = batch.batch_limit(MAX_PAYLOAD)
    agent = run.Collector(None, None, ref, None, max_bytes, bucket=bucket)  # type: ignore[arg-type]
    agent._progress = batch.Progress({})
    state = run.ReadState(
        decoder=frames.FrameDecoder(),
        assembler=frames.LineAssembler(),
        resume=frames.Resume({}),
        gate=budget.Gate(bucket),
        batcher=batch.Batcher(max_lines=run.FLUSH_LINES, max_bytes=max_bytes),
    )
    return agent, state


def timed(seconds: dict[str, float], stage: str, work: Callable[[], Any]) -> Any:
    """``work()``, timed without the cyclic GC: the stages' materialised outputs hold far more
    objects than a collector ever does, and the GC would walk them over and over."""
    gc.collect()
    gc.disable()
    try:
        began = time.perf_counter()
        result = work()
        seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - began
    finally:
        gc.enable()
    return result


def pipeline(version: Version, chunks: list[bytes], flooded: bool) -> Run:
    agent, state = collector(version, flooded)
    ingest = version.mods["ingest"]
    run = Run()
    s = run.seconds
    decoder, assembler, batcher = state.decoder, state.assembler, state.batcher
    frames = timed(s, STAGES[0], lambda: [list(decoder.feed(chunk)) for chunk in chunks])
    if hasattr(assembler, "feed_all"):  # what Collector._read does, in the version at hand
        lines = timed(s, STAGES[1], lambda: [assembler.feed_all(fs) for fs in frames])
    else:
        lines = timed(s, STAGES[1], lambda: [[line for f in fs for line in assembler.feed(f)] for fs in frames])
    take_all = getattr(agent, "_take_all", None)

    def take() -> list[Any]:
        flushes = []
        now = 0.0
        for chunk_lines in lines:
            now += 0.001
            state.read_at = START_NANOS + int(now * 1e9)
            if take_all is not None:
                take_all(chunk_lines, state, now)
            else:
                for line in chunk_lines:
                    agent._take(line, state, now)
            if len(batcher) and batcher.due(now):
                began = time.perf_counter()
                flushes.append(batcher.take())  # as _flush does; counted in the flush stage
                s[STAGES[3]] = s.get(STAGES[3], 0.0) + time.perf_counter() - began
                s[STAGES[2]] = s.get(STAGES[2], 0.0) - (time.perf_counter() - began)
        for notice in state.gate.finish():
            batcher.add(notice, now)
        flushes.append(batcher.take())
        return flushes

    flushes = timed(s, STAGES[2], take)
    payloads = timed(s, STAGES[3], lambda: flush(agent, flushes, assembler))
    rows = timed(s, STAGES[4], lambda: ingest_rows(ingest, payloads))
    run.kept = sum(len(decode(p, LogBatch).lines) for p in payloads)
    run.dropped = state.gate.dropped
    run.rows = len(rows)
    return run


def flush(agent: Any, flushes: list[list[Any]], assembler: Any) -> list[bytes]:
    """What ``Collector._flush`` computes around the publish: each batch's bytes, the cursor."""
    ref = agent.ref
    payloads = []
    for batches in flushes:
        for b in batches:
            message = LogBatch(
                app_id=ref.app_id,
                release_id=ref.release_id,
                slot=ref.slot,
                container_id=ref.container_id,
                stream=b.stream,
                lines=b.lines,
            )
            payloads.append(encode(message))
        for b in batches:
            agent._progress.published(b.collected)
        agent._progress.read_up_to(assembler.last_ts, assembler.pending)
    return payloads


def ingest_rows(ingest: ModuleType, payloads: list[bytes]) -> list[Any]:
    """The logs service's ``prepare``: decode each message, check it, rows of a pull."""
    rows: list[Any] = []
    for at in range(0, len(payloads), PULL):
        batches = [decode(p, LogBatch) for p in payloads[at : at + PULL]]
        batches = [b for b in batches if ingest.check_batch(b) is None]
        rows.extend(ingest.rows_of(batches))
    return rows


# -- measuring -------------------------------------------------------------------------------


def profile(version: Version, chunks: list[bytes], top: int = 12) -> str:
    profiler = cProfile.Profile()
    gc.disable()
    profiler.enable()
    pipeline(version, chunks, flooded=False)
    profiler.disable()
    gc.enable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top + 1)
    lines = [line for line in out.getvalue().splitlines() if "gc.collect" not in line]
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return "\n".join(line.replace(str(ROOT) + "/", "") for line in lines[start:] if line.strip())


def measure(versions: list[Version], scenarios: dict[str, list[bytes]], count: int, repeat: int) -> dict[str, Any]:
    """µs/line per stage, per version and scenario: the best of the rounds (the one least
    disturbed by whatever else runs on the machine); the versions alternate within each round."""
    samples: dict[tuple[str, str], list[Run]] = {}
    for _ in range(repeat):
        for scenario, chunks in scenarios.items():
            for version in versions:
                flooded = SCENARIOS[scenario] > LogBudget().lines_per_second
                samples.setdefault((version.name, scenario), []).append(pipeline(version, chunks, flooded))
    result: dict[str, Any] = {}
    for (name, scenario), runs in samples.items():
        per_stage = {stage: min(r.seconds[stage] for r in runs) * 1e6 / count for stage in STAGES}
        result.setdefault(name, {})[scenario] = {
            "us_per_line": per_stage,
            "total_us_per_line": sum(per_stage.values()),
            "kept": runs[0].kept,
            "dropped": runs[0].dropped,
            "rows": runs[0].rows,
        }
    return result


def table(result: dict[str, Any], names: list[str], scenario: str) -> str:
    head = "| stage | " + " | ".join(f"{n} µs/line" for n in names)
    if len(names) == 2:
        head += " | ratio"
    rows = [head + " |", "|" + "---|" * (len(names) + 1 + (len(names) == 2))]
    for stage in (*STAGES, "total"):
        values = [
            result[n][scenario]["total_us_per_line"] if stage == "total" else result[n][scenario]["us_per_line"][stage]
            for n in names
        ]
        row = f"| {stage} | " + " | ".join(f"{v:.2f}" for v in values)
        if len(names) == 2:
            row += f" | {values[0] / values[1]:.2f}x"
        rows.append(row + " |")
    return "\n".join(rows)


def share(result: dict[str, Any], names: list[str]) -> str:
    """What the budget scenario's figures cost at issue 14's target rate, per version."""
    rows = [
        "| version | agent µs/line | logs service µs/line | cores at 50,000 lines/s (agent + logs) |",
        "|---|---|---|---|",
    ]
    for name in names:
        stages = result[name]["budget"]["us_per_line"]
        agent = sum(stages[stage] for stage in STAGES[:4])
        logs = stages[STAGES[4]]
        rows.append(f"| {name} | {agent:.2f} | {logs:.2f} | {agent * 0.05:.2f} + {logs * 0.05:.2f} |")
    return "## What it costs at the target rate (budget scenario)\n\n" + "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--against", help="git revision to compare with (loaded beside the current code)")
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    load_before = os.getloadavg()
    scenarios = {name: reads(stream_bytes(args.lines, rate)) for name, rate in SCENARIOS.items()}
    versions = [current()]
    with tempfile.TemporaryDirectory() as tmp:
        if args.against:
            versions.insert(0, at_revision(args.against, Path(tmp)))
        names = [v.name for v in versions]
        result = measure(versions, scenarios, args.lines, args.repeat)
        profiles = {v.name: profile(v, scenarios["budget"]).replace(tmp + "/", "") for v in versions}
    load = os.getloadavg()
    parts = [
        f"{args.lines:,} lines per scenario; each stage's best of {args.repeat} rounds (the versions "
        f"alternate within a round), without the cyclic GC (the stages' materialised outputs hold far "
        f"more objects than a collector does); load average {load_before[0]:.2f} at the start, "
        f"{load[0]:.2f} at the end. µs/line is per line the app wrote.",
    ]
    for scenario, rate in SCENARIOS.items():
        figures = result[names[-1]][scenario]
        parts.append(
            f"## {scenario}: the app writes {rate:,} lines/s (kept {figures['kept']:,}, dropped "
            f"{figures['dropped']:,}, rows {figures['rows']:,})\n\n{table(result, names, scenario)}"
        )
    parts.append(share(result, names))
    for name, text in profiles.items():
        parts.append(f"## cProfile, `{name}`, budget scenario (top by own time)\n\n```\n{text}\n```")
    write_report(
        "log_pipeline_cpu",
        {"lines": args.lines, "repeat": args.repeat, "load": [load_before, load], "versions": names, "result": result},
        "\n\n".join(parts),
    )


if __name__ == "__main__":
    main()
