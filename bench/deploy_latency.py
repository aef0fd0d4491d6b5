"""How long a flip takes, against the floor of a bare `docker run` + first 200 in the same run with
the same local image: first deploy → first 200 through the proxy and → release `live` (what
`berth deploy` waits for), redeploy → new version served and → `live`, restart → `live`; p50/p90
and each p50 as a multiple of the floor's. Then where the time goes: the release timeline's steps
(request → outbox published → agent received → image resolved → container started → gate passed
→ proxy switched → live, with whichever of these steps the timeline has), as offsets from the
request and gaps between steps.

Targets (issue 16): first deploy → live p50 ≤ 2x floor; redeploy → live p50 ≤ 3x floor.
Usage: .venv/bin/python bench/deploy_latency.py [--n N] [--quick]
"""

from __future__ import annotations

import argparse
import ipaddress
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from _common import percentile, summary, write_report
from berth_testing import RunningPlatform, build_busybox_image, start_platform, stop_platform

TARGETS = {"first deploy → live": 2.0, "redeploy → live": 3.0}

# The hops of a flip, as the issue names them, and how to recognise each in a release's steps
# (the request is the release's createdAt, live its liveAt).
HOPS = (
    ("outbox published", ("outbox", "published")),
    ("agent received", ("received",)),
    ("image resolved", ("image.resolved",)),
    ("container started", ("container.started",)),
    ("gate passed", ("health.passed", "gate.passed")),
    ("proxy switched", ("proxy.switched",)),
)


def first_200(url: str, headers: dict[str, str] | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.01)
    raise TimeoutError(url)


def floor_runs(image: str, n: int) -> list[float]:
    """`docker run` on a fresh network at a fixed address, until the first 200 from it."""
    subnet = ipaddress.IPv4Network("10.243.255.0/28")
    ip = str(subnet.network_address + 2)
    subprocess.run(["docker", "network", "create", "--subnet", str(subnet), "berth-bench-floor"], capture_output=True)
    times = []
    try:
        for _ in range(n):
            t0 = time.monotonic()
            cid = subprocess.run(
                ["docker", "run", "-d", "--network", "berth-bench-floor", "--ip", ip, image],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            first_200(f"http://{ip}:8080/")
            times.append(time.monotonic() - t0)
            subprocess.run(["docker", "rm", "-f", cid], capture_output=True)
    finally:
        subprocess.run(["docker", "network", "rm", "berth-bench-floor"], capture_output=True)
    return times


@dataclass(frozen=True)
class Observed:
    app: str
    release_id: str
    served: float | None  # seconds from the request until the proxy served the expected body
    live: float  # seconds from the request until the API said `live`


def until_served(url: str, host: dict[str, str], expect: str, t0: float) -> float:
    while time.monotonic() - t0 < 120:
        try:
            r = httpx.get(url, headers=host, timeout=2)
            if r.status_code == 200 and r.text == expect:
                return time.monotonic() - t0
        except httpx.HTTPError:
            pass
        time.sleep(0.01)
    raise TimeoutError(f"{host['Host']} did not serve {expect!r} within 120 s")


def until_live(p: RunningPlatform, app: str, rid: str, t0: float) -> float:
    while time.monotonic() - t0 < 120:
        status = p.api.get(f"/api/apps/{app}/releases/{rid}").json()
        if status["status"] == "failed":
            raise RuntimeError(f"{app}: release failed: {status['reason']}")
        if status["status"] == "live":
            return time.monotonic() - t0
        time.sleep(0.01)
    raise TimeoutError(f"{app}: release {rid} not live within 120 s")


def observe(p: RunningPlatform, app: str, request: Callable[[], httpx.Response], expect: str | None) -> Observed:
    """Send ``request`` (the API's 202) and poll, 10 ms apart and side by side, the proxy for
    ``expect`` (None: don't) and the release for `live`, both timed from before the request."""
    t0 = time.monotonic()
    response = request()
    assert response.status_code == 202, response.text
    rid = str(response.json()["id"])
    url = f"http://127.0.0.1:{p.proxy_port}/"
    with ThreadPoolExecutor(2) as pool:
        served = pool.submit(until_served, url, {"Host": f"{app}.berth.test"}, expect, t0) if expect else None
        live = pool.submit(until_live, p, app, rid, t0)
        return Observed(app, rid, served.result() if served else None, live.result())


# -- the release timeline: pure functions of the API's release detail --


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def step_offsets(release: dict[str, Any]) -> dict[str, float]:
    """Each step's first occurrence, in ms after the request (the release's createdAt), and
    ``live`` from its liveAt."""
    created = _at(release["createdAt"])
    offsets: dict[str, float] = {}
    for step in release.get("steps", []):
        offsets.setdefault(step["step"], (_at(step["at"]) - created).total_seconds() * 1000)
    if release.get("liveAt"):
        offsets["live"] = (_at(release["liveAt"]) - created).total_seconds() * 1000
    return offsets


def hop_of(step: str) -> str:
    for hop, marks in HOPS:
        if any(mark in step for mark in marks):
            return hop
    return "live" if step == "live" else ""


def timeline(releases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every step seen, ordered by its median offset: p50/p90 ms after the request, and the p50
    of its gap from the step before it in the same release."""
    per_release = [step_offsets(r) for r in releases]
    names = {name for offsets in per_release for name in offsets}
    order = sorted(names, key=lambda name: percentile([o[name] for o in per_release if name in o], 0.5))
    rows = []
    for i, name in enumerate(order):
        seen = [o for o in per_release if name in o]
        gaps = [o[name] - max([0.0] + [o[prev] for prev in order[:i] if prev in o]) for o in seen]
        offsets = [o[name] for o in seen]
        rows.append(
            {
                "step": name,
                "hop": hop_of(name),
                "n": len(seen),
                "p50_ms": percentile(offsets, 0.5),
                "p90_ms": percentile(offsets, 0.9),
                "gap_p50_ms": percentile(gaps, 0.5),
            }
        )
    return rows


def missing_hops(rows: list[dict[str, Any]]) -> list[str]:
    present = {row["hop"] for row in rows}
    return [hop for hop, _ in HOPS if hop not in present]


# -- the run --


def run(n: int) -> dict[str, Any]:
    v1 = build_busybox_image("berth-bench/web:v1", "v1\n")
    v2 = build_busybox_image("berth-bench/web:v2", "v2\n")
    floor = floor_runs(v1, n)
    seen: dict[str, list[Observed]] = {"first": [], "redeploy": [], "restart": []}
    details: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as home:
        p = start_platform(Path(home))
        try:
            for i in range(n):
                name = f"bench{i}"
                assert p.api.post("/api/apps", json={"name": name}).status_code == 201
                request = lambda name=name: p.api.post(f"/api/apps/{name}/deploy", json={"image": v1})  # noqa: E731
                seen["first"].append(observe(p, name, request, "v1\n"))
            for i in range(n):
                image, body = (v2, "v2\n") if i % 2 == 0 else (v1, "v1\n")
                request = lambda image=image: p.api.post("/api/apps/bench0/deploy", json={"image": image})  # noqa: E731
                seen["redeploy"].append(observe(p, "bench0", request, body))
            for _ in range(n):
                seen["restart"].append(observe(p, "bench0", lambda: p.api.post("/api/apps/bench0/restart"), None))
            for kind, observed in seen.items():
                details[kind] = [p.api.get(f"/api/apps/{o.app}/releases/{o.release_id}").json() for o in observed]
        finally:
            stop_platform(p)
    return {"floor": floor, "seen": seen, "details": details}


def measures(floor: list[float], seen: dict[str, list[Observed]]) -> dict[str, dict[str, float]]:
    rows = {
        "floor: docker run + first 200": floor,
        "first deploy → first 200 via proxy": [o.served for o in seen["first"] if o.served is not None],
        "first deploy → live": [o.live for o in seen["first"]],
        "redeploy → new version via proxy": [o.served for o in seen["redeploy"] if o.served is not None],
        "redeploy → live": [o.live for o in seen["redeploy"]],
        "restart → live": [o.live for o in seen["restart"]],
    }
    floor_p50 = percentile(floor, 0.5)
    return {name: {**summary(values), "x_floor": percentile(values, 0.5) / floor_p50} for name, values in rows.items()}


def markdown(table: dict[str, dict[str, float]], timelines: dict[str, list[dict[str, Any]]]) -> str:
    lines = ["| measurement | n | p50 s | p90 s | max s | p50 / floor |", "|---|---|---|---|---|---|"]
    for name, s in table.items():
        lines.append(f"| {name} | {s['n']} | {s['p50']:.3f} | {s['p90']:.3f} | {s['max']:.3f} | {s['x_floor']:.2f}x |")
    lines.append("")
    for name, limit in TARGETS.items():
        ratio = table[name]["x_floor"]
        verdict = "met" if ratio <= limit else "**not met**"
        lines.append(f"- {name}: p50 = **{ratio:.2f}x** the floor (target ≤ {limit:g}x): {verdict}.")
    for kind, rows in timelines.items():
        lines += [
            "",
            f"Timeline of the {kind} releases (ms after the request, from the release's steps; "
            "gap: since the step before):",
            "",
            "| step | hop | n | p50 ms | p90 ms | gap p50 ms |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['step']} | {r['hop']} | {r['n']} | {r['p50_ms']:.0f} | {r['p90_ms']:.0f} | {r['gap_p50_ms']:.0f} |"
            for r in rows
        ]
        if missing := missing_hops(rows):
            lines += ["", f"Not in the timeline (yet): {', '.join(missing)}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10, help="runs of each measurement (default 10)")
    parser.add_argument("--quick", action="store_true", help="5 runs of each")
    args = parser.parse_args()
    result = run(5 if args.quick else args.n)
    table = measures(result["floor"], result["seen"])
    timelines = {kind: timeline(releases) for kind, releases in result["details"].items()}
    data = {"measures": table, "timelines": timelines, "targets_x_floor": TARGETS}
    write_report("deploy_latency", data, markdown(table, timelines))


if __name__ == "__main__":
    main()
