"""App logs under load, on a live platform (JetStream with ``sync_interval: always``):

1. **Ingest**: a dozen apps each write at their budget (5,000 lines/s, in bursts of 500 every
   100 ms) for 30 s; the rate is the apps' stored lines (``/api/apps/{id}/logs/stats``) over
   time, end to end (container stdout -> engine -> agent -> JetStream -> logs service ->
   Postgres). Target (issue 14): >= 50,000 lines/s.
2. **Latency**: meanwhile a quiet app prints a line every 100 ms; its live tail
   (``?follow=1``, SSE) receives each line this long after the engine stamped it. Target:
   p99 <= 1 s.
3. **Search**: one app holds 1,000,000 lines (published on the bus as the agent does);
   ``GET /api/apps/{id}/logs?q=<term>`` for 50 different terms, some rare, some common.
   Target: p50 <= 200 ms.

4. **CPU per line**: during the ingest, the CPU-seconds of each part of the pipeline (the agent,
   NATS, the logs service, Postgres; the engine and the kernel's writeback, shared with whatever
   else runs) per stored line (``logs_cpu.py``): a figure that competing work barely moves.

Usage: .venv/bin/python bench/logs.py [--ingest-only]  (the latter: phase 1, 2 and 4 only, no report)
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from _common import percentile, summary, write_report
from berth_shared import bus
from berth_shared.contracts.base import encode
from berth_shared.contracts.logs import LogBatch, LogLine, log_subject
from berth_testing import RunningPlatform, build_busybox_image, start_platform, stop_platform, wait_for
from logs_cpu import CpuSampler, per_line

APPS = 12
SECONDS = 30
BURST = 500  # lines every 100 ms: 5,000 lines/s
FLOOD = rf"""
httpd -p 8080 -h /www
while [ ! -f /tmp/go ]; do usleep 50000; done
awk 'BEGIN{{pad = sprintf("%40s", ""); for (s = 0; s < {SECONDS * 10}; s++) {{
  for (i = 0; i < {BURST}; i++) print "req " s * {BURST} + i " GET /api/items status=200" pad;
  fflush(); system("usleep 100000") }} }}'
exec sleep 3600
"""
# A noisy neighbour: 2,000,000 lines as fast as the engine takes them (~40x its budget).
NOISY = (
    "httpd -p 8080 -h /www; while [ ! -f /tmp/go ]; do usleep 50000; done; "
    "awk 'BEGIN{for(i=0;i<2000000;i++)print \"noise \" i}'; exec sleep 3600"
)
TICKER = 'httpd -p 8080 -h /www; i=0; while true; do echo "tick $i"; i=$((i+1)); usleep 100000; done'
SEARCH_LINES = 1_000_000
SEARCH_BATCH = 2000
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]


def search_message(rng: random.Random, n: int) -> str:
    """Line ``n`` of the searched app (``rng``: one Random(7) for all of them, in order)."""
    words = " ".join(rng.choice(WORDS) for _ in range(4))
    return f"req-{n:07d} user={rng.randrange(10_000)} {words} took {rng.randrange(900)}ms"


def search_terms() -> list[tuple[str, str]]:
    """The 50 searched strings and their kind: 20 in one line each, 15 in ~100, 15 very common."""
    rng = random.Random(11)
    terms = [("rare", f"req-{rng.randrange(SEARCH_LINES):07d}") for _ in range(20)]
    terms += [("some", f"user={rng.randrange(10_000)} ") for _ in range(15)]
    terms += [("common", f"{rng.choice(WORDS)} {rng.choice(WORDS)}") for _ in range(15)]
    return terms


def deploy(p: RunningPlatform, name: str, image: str) -> str:
    assert p.api.post("/api/apps", json={"name": name}).status_code == 201
    rel = p.api.post(f"/api/apps/{name}/deploy", json={"image": image}).json()

    def live() -> bool:
        status = p.api.get(f"/api/apps/{name}/releases/{rel['id']}").json()["status"]
        assert status != "failed"
        return bool(status == "live")

    wait_for(live, timeout=180, what=f"{name} live")
    return str(p.api.get(f"/api/apps/{name}").json()["id"])


def stats(p: RunningPlatform, name: str) -> dict[str, Any]:
    def answered() -> dict[str, Any] | None:
        r = p.api.get(f"/api/apps/{name}/logs/stats")
        if r.status_code != 200:
            print(f"stats of {name}: {r.status_code} {r.text[:200]}", flush=True)
            return None
        return dict(r.json())

    found: dict[str, Any] = wait_for(answered, timeout=120, interval=1, what=f"log stats of {name}")
    return found


class TailLatency(threading.Thread):
    """Follows an app's SSE tail; per line: arrival minus the engine's timestamp (s)."""

    def __init__(self, p: RunningPlatform, name: str) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(base_url=p.base, headers=dict(p.api.headers), timeout=60)
        self.name = name
        self.lags: list[float] = []
        self.recording = False
        self.stop = False
        self.breaks: list[str] = []
        self.connected = False

    def run(self) -> None:
        while not self.stop:
            try:
                self._follow()
            except httpx.HTTPError as exc:  # counted: a tail that breaks is a finding
                self.breaks.append(f"{type(exc).__name__}: {exc}")

    def _follow(self) -> None:
        with self.client.stream("GET", f"/api/apps/{self.name}/logs", params={"follow": 1, "limit": 1}) as r:
            data = ""
            for line in r.iter_lines():
                if self.stop:
                    return
                self.connected = True
                if line.startswith("data: "):
                    data = line[6:]
                elif line == "" and data:
                    item = json.loads(data)
                    data = ""
                    if self.recording and item["message"].startswith("tick "):
                        at = datetime.fromisoformat(item["timestamp"].replace("Z", "+00:00"))
                        self.lags.append((datetime.now(UTC) - at).total_seconds())


def go(p: RunningPlatform, name: str) -> None:
    """Start the app's writing (it waits for /tmp/go)."""
    app_id = p.api.get(f"/api/apps/{name}").json()["id"]
    for c in p.containers(app_id):
        subprocess.run(["docker", "exec", str(c["Id"]), "touch", "/tmp/go"], check=True)


def noisy_neighbour(p: RunningPlatform) -> dict[str, Any]:
    """The ticker's tail while one app floods far over its budget (dropped in the agent)."""
    deploy(p, "noisy", build_busybox_image("berth-bench/logs:noisy", "noisy\n", ["/bin/sh", "-c", NOISY]))
    tail = TailLatency(p, "ticker")
    tail.start()
    wait_for(lambda: tail.connected, timeout=60, what="the tail to open")
    tail.recording = True
    go(p, "noisy")
    began = time.monotonic()
    seen: list[tuple[int, int, int]] = []

    def accounted() -> bool:
        """Every line stored or dropped, or (some told as lost) nothing new for 5 s."""
        c = stats(p, "noisy")
        seen.append((c["storedLines"], c["droppedLines"], c["lostGaps"]))
        if c["storedLines"] + c["droppedLines"] >= 2_000_000:
            return True
        return c["lostGaps"] > 0 and len(seen) > 5 and len(set(seen[-6:])) == 1

    wait_for(accounted, timeout=600, interval=1, what="the noisy app's lines accounted for")
    took = time.monotonic() - began
    tail.recording = False
    tail.stop = True
    counters = stats(p, "noisy")
    return {
        "written_lines": 2_000_000,
        "stored_lines": counters["storedLines"],
        "dropped_lines": counters["droppedLines"],
        "lost_gaps_told": counters["lostGaps"],
        "accounted_after_s": round(took, 1),
        "tail_latency_s": {**summary(tail.lags), "p99": percentile(tail.lags, 0.99)},
        "tail_broken": tail.breaks,
    }


def ingest_and_latency(p: RunningPlatform) -> dict[str, Any]:
    flood = build_busybox_image("berth-bench/logs:flood", "flood\n", ["/bin/sh", "-c", FLOOD])
    ticker = build_busybox_image("berth-bench/logs:ticker", "ticker\n", ["/bin/sh", "-c", TICKER])
    deploy(p, "ticker", ticker)
    names = [f"flood{i}" for i in range(APPS)]
    for name in names:
        deploy(p, name, flood)
    tail = TailLatency(p, "ticker")
    tail.start()
    wait_for(lambda: tail.connected, timeout=60, what="the tail to open")
    tail.recording = True
    cpu = CpuSampler(p.proc.pid)
    cpu.begin()
    for name in names:
        go(p, name)
    started = time.monotonic()
    samples: list[tuple[float, int]] = []
    written = APPS * SECONDS * 10 * BURST
    dropped = 0
    while time.monotonic() - started < SECONDS * 4:
        time.sleep(1)
        counters = [stats(p, n) for n in names]
        stored = sum(c["storedLines"] for c in counters)
        dropped = sum(c["droppedLines"] for c in counters)
        samples.append((time.monotonic() - started, stored))
        if stored + dropped >= written:
            break
    used = cpu.end()
    tail.recording = False
    tail.stop = True
    # Steady state: from the first second with lines stored to the last sample.
    first = next(i for i, (_, n) in enumerate(samples) if n > 0)
    (t0, n0), (t1, n1) = samples[first], samples[-1]
    return {
        "apps": APPS,
        "written_lines": written,
        "stored_lines": n1,
        "dropped_lines": dropped,
        "write_seconds_nominal": SECONDS,
        "all_stored_after_s": round(t1, 1),
        "ingest_lines_per_s": round((n1 - n0) / (t1 - t0)) if t1 > t0 else 0,
        "overall_lines_per_s": round(n1 / t1),
        "tail_latency_s": {**summary(tail.lags), "p99": percentile(tail.lags, 0.99)},
        "tail_broken": tail.breaks,
        "cpu_seconds": used,
        "cpu_us_per_line": per_line(used, n1),
    }


def cpu_table(us: dict[str, float]) -> str:
    rows = "".join(f"| {name} | {value:.2f} |\n" for name, value in us.items())
    return "| process (during the ingest) | µs of CPU per stored line |\n|---|---|\n" + rows


async def fill(p: RunningPlatform, app_id: str) -> float:
    """SEARCH_LINES lines of one app on the bus, published as the agent does; returns seconds."""
    creds = json.loads((p.home / "credentials.json").read_text())
    nc = await bus.connect(
        f"nats://127.0.0.1:{p.env['BERTH_NATS_PORT']}", "agent", creds["nats_passwords"]["runtime-agent"]
    )
    rng = random.Random(7)
    start = datetime.now(UTC) - timedelta(hours=1)
    began = time.monotonic()
    try:
        js = nc.jetstream()
        pending = []
        for b in range(SEARCH_LINES // SEARCH_BATCH):
            lines = []
            for i in range(SEARCH_BATCH):
                n = b * SEARCH_BATCH + i
                at = start + timedelta(microseconds=n)
                ts = f"{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond * 1000:09d}Z"
                lines.append(LogLine(ts=ts, message=search_message(rng, n)))
            batch = LogBatch(
                app_id=app_id, release_id="bench", slot="a", container_id="bench-search", stream="stdout", lines=lines
            )
            msg_id = f"bench-search:stdout:{lines[0].ts}"
            subject = log_subject(app_id, "stdout", bulk=True)  # as the agent sends a flood
            pending.append(js.publish(subject, encode(batch), headers={"Nats-Msg-Id": msg_id}))
            if len(pending) >= 16:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await nc.close()
    return time.monotonic() - began


def search(p: RunningPlatform) -> dict[str, Any]:
    p.api.post("/api/apps", json={"name": "searched"})
    app_id = p.api.get("/api/apps/searched").json()["id"]
    began = time.monotonic()
    publish_s = asyncio.run(fill(p, app_id))
    wait_for(lambda: stats(p, "searched")["storedLines"] >= SEARCH_LINES, timeout=900, interval=1, what="1M lines")
    stored_s = time.monotonic() - began
    took: dict[str, list[float]] = {"rare": [], "some": [], "common": []}
    for kind, term in search_terms():
        t = time.perf_counter()
        r = p.api.get("/api/apps/searched/logs", params={"q": term, "limit": 100})
        took[kind].append(time.perf_counter() - t)
        assert r.status_code == 200 and r.json()["items"], (term, r.text[:200])
    every = [x for v in took.values() for x in v]
    return {
        "lines": SEARCH_LINES,
        "bus_only_ingest_lines_per_s": round(SEARCH_LINES / stored_s),
        "publish_seconds": round(publish_s, 1),
        "search_s": {"all": summary(every), **{k: summary(v) for k, v in took.items()}},
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as home:
        print(f"BERTH_HOME {home}", flush=True)
        p = start_platform(Path(home))
        try:
            ingest = ingest_and_latency(p)
            if "--ingest-only" in sys.argv:
                print(json.dumps({k: v for k, v in ingest.items() if k != "tail_broken"}, indent=1))
                print(cpu_table(ingest["cpu_us_per_line"]))
                return
            noisy = noisy_neighbour(p)
            found = search(p)
        finally:
            stop_platform(p)
    lat, quiet = ingest["tail_latency_s"], noisy["tail_latency_s"]
    s = found["search_s"]["all"]
    md = (
        "| measure | value | target |\n|---|---|---|\n"
        f"| ingest, {APPS} apps at 5,000 lines/s (end to end) | {ingest['ingest_lines_per_s']:,} lines/s | ≥ 50,000 |\n"
        f"| lines written / stored / dropped | {ingest['written_lines']:,} / {ingest['stored_lines']:,} / "
        f"{ingest['dropped_lines']:,} | dropped 0 |\n"
        f"| all stored after | {ingest['all_stored_after_s']} s (writing took ≥ {SECONDS} s) | |\n"
        f"| stdout → SSE latency of a quiet app while they write (p50 / p99 / max) | "
        f"{lat['p50'] * 1000:.0f} / {lat['p99'] * 1000:.0f} / {lat['max'] * 1000:.0f} ms (n={lat['n']}, "
        f"{len(ingest['tail_broken'])} broken) | p99 ≤ 1,000 ms |\n"
        f"| the same while one app writes {noisy['written_lines']:,} lines at full speed (p50 / p99 / max) | "
        f"{quiet['p50'] * 1000:.0f} / {quiet['p99'] * 1000:.0f} / {quiet['max'] * 1000:.0f} ms (n={quiet['n']}) | "
        "p99 ≤ 1,000 ms |\n"
        f"| that app: stored / dropped (told) / gaps told / settled after | {noisy['stored_lines']:,} / "
        f"{noisy['dropped_lines']:,} / {noisy['lost_gaps_told']} / {noisy['accounted_after_s']} s | "
        "stored + dropped = written, or a gap told |\n"
        f"| search over 1,000,000 lines of one app (p50 / p90 / max, n={s['n']}) | "
        f"{s['p50'] * 1000:.0f} / {s['p90'] * 1000:.0f} / {s['max'] * 1000:.0f} ms | p50 ≤ 200 ms |\n"
        f"| bus → Postgres only (1,000,000 lines published as the agent does) | "
        f"{found['bus_only_ingest_lines_per_s']:,} lines/s | |\n"
        f"\n{cpu_table(ingest['cpu_us_per_line'])}"
        "\nJetStream acknowledges only what it has fsynced (`sync_interval: always`). The machine is the "
        "2-core test box, shared with whatever else ran at the time.\n"
    )
    write_report("logs", {"ingest": ingest, "noisy_neighbour": noisy, "search": found}, md)


if __name__ == "__main__":
    main()
