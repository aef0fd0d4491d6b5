"""What JetStream's ``sync_interval: always`` costs (ADR 0018): the embedded NATS server started
from the launcher's own config (``render_config``) twice in the same run, once as shipped (every
message fsynced before its ack) and once with NATS's default (fsync every 2 minutes), on the
same disk under ``$TMPDIR``. Against each it measures, with the services' own identities:

* commands (``ReconcileApp`` on ``BERTH_CMD``, as the API's outbox sends them): one at a time,
  publish→ack latency p50/p99 and rate;
* log batches (``LogBatch`` on ``BERTH_LOGS``, as the agent sends them; 2,000 lines of ~100
  bytes, the agent's flush size): one at a time, and ``--in-flight`` at once (the agent
  publishes a flush's batches together, one flush per app) — lines/s.

Usage: .venv/bin/python bench/durability.py [--seconds 8] [--in-flight 12]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import percentile, write_report
from berth_cli.launcher import nats_server
from berth_shared import bus, provision
from berth_shared.contracts.base import encode
from berth_shared.contracts.logs import LogBatch, LogLine
from berth_shared.contracts.releases import ReconcileApp, reconcile_subject
from berth_testing import free_port
from nats.aio.client import Client

LINES_PER_BATCH = 2000
LINE = "GET /api/items?page=3 200 1532 bytes in 4.1 ms user-agent=curl/8.5 request-id=0123456789abcdef"


async def _ready(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise TimeoutError(f"nats on {port} did not start")


class Server:
    def __init__(self, root: Path, sync_always: bool) -> None:
        self.root = root
        self.port = free_port()
        self.passwords = {user: secrets.token_urlsafe(12) for user in nats_server.PERMISSIONS}
        self.provisioner = secrets.token_urlsafe(12)
        conf = root / "nats.conf"
        conf.write_text(
            nats_server.render_config(
                port=self.port,
                store_dir=root / "store",
                passwords=self.passwords,
                provisioner_password=self.provisioner,
                sync_always=sync_always,
            )
        )
        self.proc = subprocess.Popen(nats_server.command(conf), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def start(self) -> None:
        await _ready(self.port, time.monotonic() + 30)
        nc = await bus.connect(self.url, nats_server.PROVISIONER, self.provisioner, name="bench-provision")
        try:
            await provision.provision(nc.jetstream())
        finally:
            await nc.close()

    async def connect(self, user: str) -> Client:
        return await bus.connect(self.url, user, self.passwords[user], name=f"bench-{user}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def log_batch(app: int, seq: int) -> bytes:
    now = datetime.now(UTC)
    lines = [
        LogLine(ts=now.isoformat(), message=f"{LINE} n={seq * LINES_PER_BATCH + i}", seq=i)
        for i in range(LINES_PER_BATCH)
    ]
    batch = LogBatch(
        app_id=f"bench-app-{app}", release_id="r1", slot="a", container_id=f"c{app}", stream="stdout", lines=lines
    )
    return encode(batch)


async def sequential(nc: Client, subject_of, payload_of, seconds: float) -> dict[str, float]:  # type: ignore[no-untyped-def]
    js = nc.jetstream()
    latencies: list[float] = []
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        payload = payload_of(n)
        started = time.perf_counter()
        await js.publish(subject_of(n), payload)
        latencies.append((time.perf_counter() - started) * 1000)
        n += 1
    return {
        "count": n,
        "per_second": round(n / seconds, 1),
        "p50_ms": round(percentile(latencies, 0.5), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
    }


async def pipelined(nc: Client, in_flight: int, seconds: float, payloads: list[bytes]) -> dict[str, float]:
    """``in_flight`` publishers (one per app), each always waiting on one batch's ack."""
    js = nc.jetstream()
    end = time.monotonic() + seconds
    counts = [0] * in_flight

    async def publisher(app: int) -> None:
        while time.monotonic() < end:
            await js.publish(f"berth.logs.bench-app-{app}.stdout", payloads[app])
            counts[app] += 1

    started = time.monotonic()
    await asyncio.gather(*(publisher(app) for app in range(in_flight)))
    elapsed = time.monotonic() - started
    batches = sum(counts)
    return {
        "batches": batches,
        "lines_per_second": round(batches * LINES_PER_BATCH / elapsed),
        "mb_per_second": round(batches * len(payloads[0]) / elapsed / 1e6, 1),
    }


async def measure(sync_always: bool, seconds: float, in_flight: int) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="berth-bench-durability-"))
    server = Server(root, sync_always)
    try:
        await server.start()
        api, agent = await server.connect("api"), await server.connect("agent")
        try:
            commands = await sequential(
                api,
                lambda n: reconcile_subject("bench"),
                lambda n: encode(ReconcileApp(app_id=f"app-{n}", reason="bench")),
                seconds,
            )
            batch = log_batch(0, 0)
            logs_one = await sequential(agent, lambda n: "berth.logs.bench-app-0.stdout", lambda n: batch, seconds)
            payloads = [log_batch(app, 0) for app in range(in_flight)]
            logs_many = await pipelined(agent, in_flight, seconds, payloads)
        finally:
            await api.close()
            await agent.close()
        return {
            "sync_interval": "always" if sync_always else "default (2 min)",
            "commands": commands,
            "log_batches_one_at_a_time": {
                **logs_one,
                "lines_per_second": round(logs_one["per_second"] * LINES_PER_BATCH),
            },
            "log_batches_in_flight": logs_many,
        }
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _version() -> str:
    out = subprocess.run([nats_server.binary(), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "nats-server"


def _row(name: str, r: dict[str, object]) -> str:
    c, one, many = r["commands"], r["log_batches_one_at_a_time"], r["log_batches_in_flight"]
    return (
        f"| {name} | {c['per_second']:.0f} | {c['p50_ms']} | {c['p99_ms']} | "  # type: ignore[index]
        f"{one['p50_ms']} | {one['p99_ms']} | {one['lines_per_second']:,} | "  # type: ignore[index]
        f"{many['lines_per_second']:,} | {many['mb_per_second']} |"  # type: ignore[index]
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--in-flight", type=int, default=12)
    args = parser.parse_args()
    # Alternate, twice each, so load from elsewhere on the machine hits both alike.
    runs: list[dict[str, object]] = []
    for sync_always in (False, True, False, True):
        runs.append(await measure(sync_always, args.seconds, args.in_flight))
    header = (
        "| sync_interval | commands/s | command ack p50 ms | p99 ms | log batch ack p50 ms | p99 ms | "
        "lines/s one at a time | lines/s "
        f"{args.in_flight} in flight | MB/s |\n|---|---|---|---|---|---|---|---|---|"
    )
    rows = "\n".join(_row(str(r["sync_interval"]), r) for r in runs)
    markdown = (
        f"Embedded {_version()}, config from `render_config`, store on "
        f"`{tempfile.gettempdir()}` ({os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}); {args.seconds:.0f} s per measurement, batches of "
        f"{LINES_PER_BATCH} lines of ~{len(LINE) + 8} bytes.\n\n{header}\n{rows}\n"
    )
    write_report("durability", {"seconds": args.seconds, "in_flight": args.in_flight, "runs": runs}, markdown)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
