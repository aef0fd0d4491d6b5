"""How the proxy learns an app's live slot (issue 16): candidates measured against the real Caddy
that `berth up` runs (started by the launcher's own code), with two apps in two slots each on
their own /28, and continuous load from 127.0.0.1 only.

Candidates:
- ``active``: the config before ADR 0025: both slots listed, Caddy's active health check every
  0.5 s on each server; the flip waited 1.2 s for it, then drained the old slot as long again.
- ``a``: ``dynamic a`` upstreams answered by a loopback DNS server (the router's slot DNS, the
  config the router renders now): the live slot only, looked up at most once per ``refresh``;
  the static two-slot list stays as the fallback Caddy uses when a lookup fails (no
  ``grace_period`` in ``dynamic a``).
- ``srv``: ``dynamic srv`` with ``grace_period`` (stale answers kept when a lookup fails); its
  targets are names, so they are resolved again at every dial: an IP address as a target is
  refused by Go's resolver (checked here), a name needs ``transport.resolver`` pointed at the
  same DNS server.

Measured per candidate: the time from the switch (``active``: the new slot passing its gate;
the others: the new answer served) to the first request started on the new slot and to the
last one started on the old; failures across flips (GET and POST over keep-alive connections,
2-second GETs and POSTs in flight); DNS queries a second under load and while idle; and what
happens while the DNS server is killed or hung (requests must keep working).

Usage: .venv/bin/python bench/proxy_switch.py [flips] [candidate ...]
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _common import percentile, write_report
from berth_agent.drain import decide as netfilter
from berth_agent.drain.decide_inflight import open_connections
from berth_cli.launcher.platform import Platform
from berth_router import caddy_config
from berth_router.caddy_admin import CaddyAdmin
from berth_router.slot_answers import ZONE, answer, slot_name
from berth_router.slot_dns import SlotDns
from berth_shared.dns import DnsError, read_name
from berth_shared.netplan import Slot, other_slot, slot_address
from berth_shared.probes import PROBE_USER_AGENT
from berth_shared.proxy_timing import UPSTREAM_REFRESH_SECONDS
from berth_testing import build_keepalive_image, build_long_request_image, isolated_settings

# Before ADR 0025: Caddy's active check every 0.5 s; the agent waited 2 intervals + 0.2 s for it
# to see the new slot, and as long again after refusing new connections to the old one.
ACTIVE_INTERVAL = "500ms"
TODAY_SWITCH_SECONDS = 1.2
GRACE = "1h"
SLOW_SECONDS = 2
STOP_TIMEOUT = 5
CANDIDATES = ("active", "a", "srv")
SRV = 33
TARGET_PREFIX = "slot-"
CLIENTS = {"get": 2, "post": 2, "slow-get": 1, "slow-post": 1}


@dataclass(frozen=True)
class App:
    name: str
    subnet: str
    images: Mapping[Slot, str]
    network: str = ""

    @property
    def app_id(self) -> str:
        return self.name

    @property
    def host(self) -> str:
        return f"{self.name}.bench.test"

    def route(self) -> caddy_config.Route:
        return caddy_config.Route(app_id=self.app_id, name=self.name, hostname=self.host, port=8080, subnet=self.subnet)


# -- the candidates' Caddy configs and DNS answers ------------------------------------------


def config_for(candidate: str, apps: list[App], settings: Any, dns_port: int) -> dict[str, Any]:
    """The router's config (``a``: as rendered), or a candidate's changes to each app's proxy."""
    config = caddy_config.render(
        [a.route() for a in apps],
        http_port=settings.http_port,
        admin_socket=str(settings.caddy_admin_socket),
        slot_dns_port=dns_port,
    )
    resolver = {"addresses": [f"udp/127.0.0.1:{dns_port}"]}
    for route in config["apps"]["http"]["servers"][caddy_config.SERVER_NAME]["routes"]:
        handler = route["handle"][0]
        if handler.get("handler") != "reverse_proxy" or candidate == "a":
            continue
        if candidate == "active":
            del handler["dynamic_upstreams"]
            handler["health_checks"]["active"] = {
                "uri": "/",
                "interval": ACTIVE_INTERVAL,
                "timeout": "1s",
                "headers": {"User-Agent": [PROBE_USER_AGENT]},
            }
        else:
            handler["dynamic_upstreams"] = {
                "source": "srv",
                "name": handler["dynamic_upstreams"]["name"],
                "refresh": handler["dynamic_upstreams"]["refresh"],
                "grace_period": GRACE,
                "resolver": resolver,
            }
            handler["transport"]["resolver"] = resolver
    return config


def srv_answer(query: bytes, table: Mapping[str, tuple[str, ...]], ip_targets: bool) -> bytes | None:
    """SRV for ``<app>.slot…``: its target is the address itself, or the name
    ``slot-<address with dashes>.slot…`` whose records this answers too; A queries of app names
    as the router's answer does."""
    try:
        name, end = read_name(query, 12)
        (qtype,) = struct.unpack_from("!H", query, end)
    except (DnsError, struct.error):
        return answer(query, table)
    if name.startswith(TARGET_PREFIX):
        return answer(query, {name: (name.removeprefix(TARGET_PREFIX).split(".", 1)[0].replace("-", "."),)})
    if qtype != SRV or name not in table:
        return answer(query, table)
    base = answer(query, {name: ("0.0.0.0",)})  # the header and question of an empty answer
    assert base is not None
    header = bytearray(base[:12])
    header[6:8] = struct.pack("!H", 1)
    question = base[12 : end + 4]
    address = table[name][0]
    target = f"{address}." if ip_targets else f"{TARGET_PREFIX}{address.replace('.', '-')}.{ZONE}"
    wire = b"".join(bytes([len(label)]) + label.encode() for label in target.rstrip(".").split(".")) + b"\0"
    rdata = struct.pack("!HHH", 0, 0, 8080) + wire
    return bytes(header) + question + struct.pack("!HHHIH", 0xC00C, SRV, 1, 1, len(rdata)) + rdata


class BenchDns(SlotDns):
    """The router's slot DNS, answering SRV too for the ``srv`` candidate; ``hung`` swallows queries."""

    def __init__(self, candidate: str, ip_targets: bool = False) -> None:
        super().__init__()
        self.candidate = candidate
        self.ip_targets = ip_targets
        self.hung = False

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if self.hung:
            return
        if self.candidate != "srv":
            super().datagram_received(data, addr)
            return
        response = srv_answer(data, self.table, self.ip_targets)
        if response is not None and self._transport is not None:
            self.queries += 1
            self._transport.sendto(response, addr)


# -- load ------------------------------------------------------------------------------------


@dataclass
class Sample:
    kind: str
    start: float
    end: float
    status: int
    body: str
    error: str = ""


@dataclass
class Load:
    port: int
    apps: dict[str, App]
    samples: list[Sample] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> list[threading.Thread]:
        threads = []
        for kind, count in CLIENTS.items():
            for _ in range(count):
                thread = threading.Thread(target=self.run, args=(kind,), daemon=True)
                thread.start()
                threads.append(thread)
        return threads

    def run(self, kind: str) -> None:
        app = self.apps["slow" if kind.startswith("slow") else "ka"]
        path = f"/cgi-bin/slow?{SLOW_SECONDS}" if kind.startswith("slow") else "/"
        url = f"http://127.0.0.1:{self.port}{path}"
        with httpx.Client(headers={"Host": app.host}, timeout=30) as client:  # keep-alive
            while not self.stop.is_set():
                t0 = time.monotonic()
                try:
                    r = client.post(url, content=b"order=1") if kind.endswith("post") else client.get(url)
                    sample = Sample(kind, t0, time.monotonic(), r.status_code, r.text)
                except httpx.HTTPError as exc:
                    sample = Sample(kind, t0, time.monotonic(), 0, "", f"{type(exc).__name__}: {exc}")
                self.samples.append(sample)


# -- docker, iptables, /proc ----------------------------------------------------------------


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


def run_slot(app: App, slot: Slot) -> str:
    name = f"{app.network}-{slot}"
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    address = slot_address(app.subnet, slot)
    return sh(
        "docker", "run", "-d", "--init", "--name", name, "--network", app.network, "--ip", address, app.images[slot]
    )


def remove_slots(apps: dict[str, App], networks: bool = False) -> None:
    for app in apps.values():
        for slot in "ab":
            subprocess.run(["docker", "rm", "-f", f"{app.network}-{slot}"], capture_output=True)
        if networks:
            subprocess.run(["docker", "network", "rm", app.network], capture_output=True)


async def wait_ready(address: str) -> float:
    """Poll ``GET /`` every 20 ms until it answers (the agent's gate, done quickly)."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=1) as client:
        while time.monotonic() - started < 60:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"http://{address}:8080/")).status_code < 400:
                    return time.monotonic()
            await asyncio.sleep(0.02)
    raise RuntimeError(f"{address} never answered")


def drain_rule(instance: str, app: App, slot: Slot) -> netfilter.DrainRule:
    return netfilter.DrainRule(instance, app.app_id, slot, slot_address(app.subnet, slot), 8080)


def iptables(args: list[str]) -> None:
    subprocess.run(["iptables", *args], check=True, capture_output=True)


async def wait_no_inflight(address: str, limit: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if open_connections(await asyncio.to_thread(Path("/proc/net/tcp").read_text), address, 8080) == 0:
            break
        await asyncio.sleep(0.02)
    return time.monotonic() - started


# -- one candidate ---------------------------------------------------------------------------


@dataclass
class Flip:
    app: str
    old: Slot
    new: Slot
    switched_at: float
    proxy_switched_at: float = 0.0
    drain_seconds: float = 0.0


@dataclass
class Run:
    candidate: str
    flips: list[Flip] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)
    dns_load_qps: float = 0.0
    dns_idle_qps: float = 0.0
    notes: list[str] = field(default_factory=list)


async def flip(
    candidate: str, app: App, live: Slot, *, dns: BenchDns, instance: str, table: dict[str, tuple[str, ...]]
) -> Flip:
    new = other_slot(live)
    await asyncio.to_thread(run_slot, app, new)
    ready = await wait_ready(slot_address(app.subnet, new))
    record = Flip(app.name, live, new, switched_at=ready)
    if candidate == "active":
        await asyncio.sleep(TODAY_SWITCH_SECONDS)
    else:
        table[slot_name(app.app_id)] = (slot_address(app.subnet, new),)
        dns.serve(table)
        record.switched_at = time.monotonic()
        await asyncio.sleep(UPSTREAM_REFRESH_SECONDS)  # the refresh bound
    record.proxy_switched_at = time.monotonic()
    rule = drain_rule(instance, app, live)
    for chain in netfilter.CHAINS:
        await asyncio.to_thread(iptables, netfilter.insert_args(chain, rule))
    drain_started = time.monotonic()
    if candidate == "active":
        await asyncio.sleep(TODAY_SWITCH_SECONDS)
    else:
        await wait_no_inflight(rule.address, STOP_TIMEOUT)
    name = f"{app.network}-{live}"
    await asyncio.to_thread(sh, "docker", "stop", "-t", str(STOP_TIMEOUT), name)
    record.drain_seconds = time.monotonic() - drain_started
    await asyncio.to_thread(sh, "docker", "rm", "-f", name)
    for chain in netfilter.CHAINS:
        listed = netfilter.parse_listing(chain, await asyncio.to_thread(sh, "iptables", *netfilter.list_args(chain)))
        for found in netfilter.rules_of(listed, instance, app.app_id):
            await asyncio.to_thread(iptables, netfilter.delete_args(found))
    return record


async def candidate_run(candidate: str, flips: int, apps: dict[str, App], settings: Any, instance: str) -> Run:
    run = Run(candidate)
    ip_targets_dns = BenchDns(candidate, ip_targets=True)
    dns = BenchDns(candidate)
    dns_port = await dns.start(0)
    admin = CaddyAdmin(str(settings.caddy_admin_socket))
    live: dict[str, Slot] = {name: "a" for name in apps}
    table = {slot_name(a.app_id): (slot_address(a.subnet, "a"),) for a in apps.values()}
    dns.serve(table)
    for app in apps.values():
        await asyncio.to_thread(run_slot, app, "a")
        await wait_ready(slot_address(app.subnet, "a"))
    await admin.load(config_for(candidate, list(apps.values()), settings, dns_port))
    load = Load(settings.http_port, apps)
    threads = load.start()
    try:
        await asyncio.sleep(3)
        run.windows["steady"] = (time.monotonic() - 3, time.monotonic())
        q0, t0 = dns.queries, time.monotonic()
        for i in range(flips):
            records = await asyncio.gather(
                *(
                    flip(candidate, app, live[name], dns=dns, instance=instance, table=table)
                    for name, app in apps.items()
                )
            )
            for r in records:
                live[r.app] = r.new
            run.flips.extend(records)
            await asyncio.sleep(1.0 if i < flips - 1 else SLOW_SECONDS + 1)
        run.dns_load_qps = (dns.queries - q0) / (time.monotonic() - t0)
        run.windows["flips"] = (t0, time.monotonic())
        if candidate != "active":
            await outage(run, dns, dns_port, "killed")
            await outage(run, dns, dns_port, "hung")
    finally:
        load.stop.set()
        for thread in threads:
            await asyncio.to_thread(thread.join, 40)
    run.samples = list(load.samples)
    q0 = dns.queries
    await asyncio.sleep(5)
    run.dns_idle_qps = (dns.queries - q0) / 5
    if candidate == "srv":
        run.notes.append(await srv_ip_targets(ip_targets_dns, dns_port, dns, apps=apps, admin=admin, settings=settings))
    await dns.close()
    await asyncio.to_thread(remove_slots, apps)
    return run


async def outage(run: Run, dns: BenchDns, port: int, how: str, seconds: float = 10.0) -> None:
    """The router's DNS killed (nothing on the port: refused at once) or hung (bound, silent)."""
    started = time.monotonic()
    if how == "killed":
        await dns.close()
    else:
        dns.hung = True
    await asyncio.sleep(seconds)
    if how == "killed":
        await dns.start(port)
    else:
        dns.hung = False
    run.windows[how] = (started, time.monotonic())
    await asyncio.sleep(SLOW_SECONDS + 1)


async def srv_ip_targets(
    ip_dns: BenchDns, port: int, dns: BenchDns, *, apps: dict[str, App], admin: CaddyAdmin, settings: Any
) -> str:
    """Does ``dynamic srv`` take an IP address as a target? Both slots run; SRV names only slot b
    (as an address) under a name never looked up before, without a grace period: if Caddy takes
    the answer only b serves, if it refuses it the static fallback serves both."""
    await dns.close()
    await ip_dns.start(port)
    app = apps["ka"]
    for slot in ("a", "b"):
        await asyncio.to_thread(run_slot, app, slot)  # type: ignore[arg-type]
        await wait_ready(slot_address(app.subnet, slot))  # type: ignore[arg-type]
    fresh = slot_name(f"{app.app_id}-ip-{uuid.uuid4().hex[:6]}")
    config = config_for("srv", [app], settings, port)
    handler = config["apps"]["http"]["servers"][caddy_config.SERVER_NAME]["routes"][0]["handle"][0]
    handler["dynamic_upstreams"]["name"] = fresh
    del handler["dynamic_upstreams"]["grace_period"]
    await admin.load(config)
    ip_dns.serve({fresh: slot_address(app.subnet, "b")})
    bodies: dict[str, int] = {}
    async with httpx.AsyncClient(headers={"Host": app.host}, timeout=10) as client:
        for _ in range(40):
            body = (await client.get(f"http://127.0.0.1:{settings.http_port}/")).text.strip()
            bodies[body] = bodies.get(body, 0) + 1
    await ip_dns.close()
    await dns.start(port)
    return f"srv with IP-address targets: 40 requests answered by slots {bodies} (only b if Caddy took the answer)"


# -- report ----------------------------------------------------------------------------------


def in_window(samples: list[Sample], window: tuple[float, float]) -> list[Sample]:
    return [s for s in samples if window[0] <= s.start <= window[1]]


def switch_latencies(run: Run) -> tuple[list[float], list[float]]:
    """Per flip of the keep-alive app: switch -> first request started on the new slot, and
    switch -> last request started on the old one (negative: none after the switch), among the
    requests started between two seconds before this switch and the next one."""
    first_new, last_old = [], []
    fast = [s for s in run.samples if s.kind in ("get", "post") and s.status == 200]
    flips = sorted((f for f in run.flips if f.app == "ka"), key=lambda f: f.switched_at)
    for f, after in zip(flips, [*flips[1:], None], strict=True):
        until = after.switched_at if after else float("inf")
        window = [s for s in fast if f.switched_at - 2 <= s.start < until]
        new = [s.start for s in window if s.body.strip() == f.new]
        old = [s.start for s in window if s.body.strip() == f.old]
        if new:
            first_new.append(min(s for s in new if s >= f.switched_at - 2) - f.switched_at)
        if old:
            last_old.append(max(old) - f.switched_at)
    return first_new, last_old


def summarize(run: Run) -> dict[str, Any]:
    first_new, last_old = switch_latencies(run)
    failed = [s for s in run.samples if s.status != 200]
    by_kind: dict[str, int] = {}
    for s in failed:
        by_kind[s.kind] = by_kind.get(s.kind, 0) + 1
    steady = [s.end - s.start for s in in_window(run.samples, run.windows["steady"]) if s.kind in ("get", "post")]
    result: dict[str, Any] = {
        "requests": len(run.samples),
        "failed": len(failed),
        "failed_by_kind": by_kind,
        "first_failures": [f"{s.kind} {s.status} {s.error[:120]}" for s in failed[:5]],
        "flips": len(run.flips),
        "switch_to_first_new_ms": [round(x * 1000) for x in first_new],
        "switch_to_last_old_ms": [round(x * 1000) for x in last_old],
        "proxy_switched_after_gate_ms": [round((f.proxy_switched_at - f.switched_at) * 1000) for f in run.flips],
        "drain_ms": [round(f.drain_seconds * 1000) for f in run.flips],
        "dns_qps_under_load": round(run.dns_load_qps, 1),
        "dns_qps_idle": round(run.dns_idle_qps, 2),
        "steady_p99_ms": round(percentile(steady, 0.99) * 1000, 1),
        "notes": run.notes,
    }
    for how in ("killed", "hung"):
        if how in run.windows:
            window = in_window(run.samples, run.windows[how])
            fast = [s.end - s.start for s in window if s.kind in ("get", "post")]
            result[f"dns_{how}"] = {
                "requests": len(window),
                "failed": sum(1 for s in window if s.status != 200),
                "p50_ms": round(percentile(fast, 0.5) * 1000, 1),
                "p99_ms": round(percentile(fast, 0.99) * 1000, 1),
                "max_ms": round(max(fast, default=0) * 1000, 1),
            }
    return result


def markdown(results: dict[str, dict[str, Any]], load: str) -> str:
    lines = [
        f"Load beside the bench (1-minute load average at start): {load}. Clients: {CLIENTS} "
        f"(keep-alive; slow = {SLOW_SECONDS} s requests in flight across every flip). "
        f"Refresh {UPSTREAM_REFRESH_SECONDS:g}s.",
        "",
        "| candidate | requests | failed | switch → first on new (ms) | switch → last on old (ms) | drain (ms) "
        "| DNS q/s load / idle |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['requests']} | {r['failed']} {r['failed_by_kind'] or ''} | "
            f"{_spread(r['switch_to_first_new_ms'])} | {_spread(r['switch_to_last_old_ms'])} | "
            f"{_spread(r['drain_ms'])} | {r['dns_qps_under_load']} / {r['dns_qps_idle']} |"
        )
    lines += ["", "DNS server down for 10 s under load (fast requests):", ""]
    lines += ["| candidate | killed: requests, failed, p50/p99/max ms | hung: requests, failed, p50/p99/max ms |"]
    lines += ["|---|---|---|"]
    for name, r in results.items():
        cells = []
        for how in ("killed", "hung"):
            o = r.get(f"dns_{how}")
            cells.append(f"{o['requests']}, {o['failed']}, {o['p50_ms']}/{o['p99_ms']}/{o['max_ms']}" if o else "-")
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    notes = [n for r in results.values() for n in r["notes"]]
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    return "\n".join(lines)


def _spread(values: list[int]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"p50 {ordered[len(ordered) // 2]}, max {ordered[-1]}"


async def main(flips: int, candidates: list[str]) -> None:
    load = (await asyncio.to_thread(Path("/proc/loadavg").read_text)).split()[0]
    tag = uuid.uuid4().hex[:6]
    images = {
        "ka": {s: await asyncio.to_thread(build_keepalive_image, f"berth-bench/switch-ka:{s}", f"{s}\n") for s in "ab"},
        "slow": {
            s: await asyncio.to_thread(build_long_request_image, f"berth-bench/switch-slow:{s}", f"{s}\n") for s in "ab"
        },
    }
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as home:
        settings = isolated_settings(Path(home))
        platform = Platform(settings, services=())
        await platform.start()
        subnets = [str(n) for n in ipaddress.IPv4Network(settings.subnet_pool).subnets(new_prefix=28)][:2]
        apps = {
            name: App(name, subnet, images[name], network=f"berth-bench-{tag}-{name}")
            for name, subnet in zip(("ka", "slow"), subnets, strict=True)
        }
        results: dict[str, dict[str, Any]] = {}
        try:
            for app in apps.values():
                gateway = str(ipaddress.IPv4Network(app.subnet).network_address + 1)
                sh("docker", "network", "create", "--subnet", app.subnet, "--gateway", gateway, app.network)
            for candidate in candidates:
                run = await candidate_run(candidate, flips, apps, settings, platform.credentials.instance)
                results[candidate] = summarize(run)
                print(candidate, json.dumps(results[candidate]), flush=True)
        finally:
            await asyncio.to_thread(remove_slots, apps, networks=True)
            await platform.stop()
    write_report("proxy_switch", {"load_average": load, "flips": flips, "results": results}, markdown(results, load))


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    chosen = sys.argv[2:] or list(CANDIDATES)
    asyncio.run(main(count, chosen))
