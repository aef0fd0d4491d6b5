"""Requests that must not fail while apps flip: GETs and POSTs (with bodies) through the proxy to a
keep-alive app and to an app whose every request takes 2 s (so requests are in flight across each
flip), during deploys, restarts and rollbacks of both apps at once.

The load has no request cap and no time cap: it runs until the last flip has ended (its release
`live` and its old slot stopped) and is stopped only then; the report shows the requests started
after that moment. Every request falls in one window: steady state before the first flip, then
flip i from its request until flip i+1's request (the last one until the load stops). Per flip
and per app: requests, failures, p99, p99.9, max; and totals per stream, steady against flips.
Targets: 0 failed requests; keep-alive p99 during flips <= 2x steady.

Usage: .venv/bin/python bench/zero_downtime.py [--deploys N] [--restarts N] [--rollbacks N] [--quick]
"""

from __future__ import annotations

import argparse
import bisect
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import percentile, write_report
from _load import OpenEndedLoad, Outcome, Stream
from berth_testing import (
    RunningPlatform,
    build_keepalive_image,
    build_long_request_image,
    start_platform,
    stop_platform,
    wait_for,
)

KEEPALIVE = "zk"  # Caddy's static binary: HTTP/1.1 keep-alive, graceful on SIGTERM
LONG = "zs"  # busybox httpd: every request under /cgi-bin/slow?2 takes 2 s, graceful on SIGTERM
SLOW_PATH = "/cgi-bin/slow?2"
BODY = b"order=1&note=" + b"x" * 512


def streams() -> list[Stream]:
    return [
        Stream("keep-alive GET", f"{KEEPALIVE}.berth.test", "GET", "/", workers=2),
        Stream("keep-alive POST", f"{KEEPALIVE}.berth.test", "POST", "/", BODY, workers=2),
        Stream("2 s GET", f"{LONG}.berth.test", "GET", SLOW_PATH, workers=3),
        Stream("2 s POST", f"{LONG}.berth.test", "POST", SLOW_PATH, BODY, workers=3),
    ]


APP_OF_STREAM = {"keep-alive GET": KEEPALIVE, "keep-alive POST": KEEPALIVE, "2 s GET": LONG, "2 s POST": LONG}


@dataclass
class Flip:
    index: int
    kind: str
    start: float  # both apps' requests are sent at once, after this instant
    live: dict[str, float]  # app -> when its release read `live`
    ended: float = 0.0  # both releases live and both old slots stopped


# -- deciding: windows and figures from the recorded outcomes (pure) --


def window_of(outcome: Outcome, flip_starts: list[float]) -> int:
    """-1 for steady state (before the first flip), else the index of the flip whose window
    [start_i, start_i+1) the request started in."""
    return bisect.bisect_right(flip_starts, outcome.start) - 1


def figures(outcomes: list[Outcome]) -> dict[str, Any]:
    latencies = [o.latency * 1000 for o in outcomes]
    return {
        "requests": len(outcomes),
        "get": sum(o.method == "GET" for o in outcomes),
        "post": sum(o.method == "POST" for o in outcomes),
        "failed": sum(o.failed for o in outcomes),
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "p999_ms": percentile(latencies, 0.999),
        "max_ms": max(latencies) if latencies else float("nan"),
    }


def in_flight_at(outcomes: list[Outcome], instant: float) -> int:
    return sum(o.start < instant < o.end for o in outcomes)


def flip_rows(flips: list[Flip], outcomes: list[Outcome]) -> list[dict[str, Any]]:
    starts = [f.start for f in flips]
    by_window: dict[int, list[Outcome]] = {}
    for o in outcomes:
        by_window.setdefault(window_of(o, starts), []).append(o)
    per_app = {app: [o for o in outcomes if APP_OF_STREAM[o.stream] == app] for app in (KEEPALIVE, LONG)}
    rows = []
    for flip in flips:
        mine = by_window.get(flip.index, [])
        row: dict[str, Any] = {
            "flip": flip.index + 1,
            "kind": flip.kind,
            "to_live_s": {app: at - flip.start for app, at in flip.live.items()},
            "to_end_s": flip.ended - flip.start,
        }
        for app in (KEEPALIVE, LONG):
            ours = [o for o in mine if APP_OF_STREAM[o.stream] == app]
            row[app] = {**figures(ours), "in_flight_at_request": in_flight_at(per_app[app], flip.start)}
        rows.append(row)
    return rows


def stream_rows(outcomes: list[Outcome], first_flip: float) -> list[dict[str, Any]]:
    rows = []
    for name in APP_OF_STREAM:
        ours = [o for o in outcomes if o.stream == name]
        rows.append(
            {
                "stream": name,
                "all": figures(ours),
                "steady": figures([o for o in ours if o.start < first_flip]),
                "flips": figures([o for o in ours if o.start >= first_flip]),
            }
        )
    return rows


# -- doing: the platform, the flips, the load --


def release_status(p: RunningPlatform, app: str, release_id: str) -> str:
    r = p.api.get(f"/api/apps/{app}/releases/{release_id}").json()
    if r["status"] == "failed":
        raise RuntimeError(f"{app}: release failed: {r['reason']}")
    return str(r["status"])


def one_running(p: RunningPlatform, app_id: str) -> bool:
    return sum(bool(c["State"]["Running"]) for c in p.containers(app_id)) == 1  # type: ignore[index]


def request_flip(p: RunningPlatform, app: str, kind: str, i: int, images: dict[str, tuple[str, str]]) -> str:
    if kind == "deploy":
        r = p.api.post(f"/api/apps/{app}/deploy", json={"image": images[app][i % 2]})
    else:
        r = p.api.post(f"/api/apps/{app}/{kind}")
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def flip_both(
    p: RunningPlatform, index: int, *, kind: str, i: int, images: dict[str, tuple[str, str]], ids: dict[str, str]
) -> Flip:
    start = time.monotonic()
    releases = {app: request_flip(p, app, kind, i, images) for app in (KEEPALIVE, LONG)}
    live: dict[str, float] = {}
    deadline = start + 180
    while len(live) < len(releases):
        if time.monotonic() > deadline:
            raise TimeoutError(f"flip {index + 1} ({kind}) not live after 180 s")
        for app, rid in releases.items():
            if app not in live and release_status(p, app, rid) == "live":
                live[app] = time.monotonic()
        time.sleep(0.02)
    for app in releases:
        wait_for(lambda a=app: one_running(p, ids[a]), timeout=120, interval=0.05, what=f"{app}'s old slot stopped")
    return Flip(index, kind, start, live, time.monotonic())


def deploy_first(p: RunningPlatform, app: str, image: str) -> str:
    created = p.api.post("/api/apps", json={"name": app})
    assert created.status_code == 201, created.text
    rid = request_flip(p, app, "deploy", 0, {app: (image, image)})
    wait_for(lambda: release_status(p, app, rid) == "live", timeout=120, interval=0.05, what=f"{app} live")
    return str(created.json()["id"])


def run(plan: list[tuple[str, int]], steady_seconds: float, tail_seconds: float) -> dict[str, Any]:
    images = {
        KEEPALIVE: (
            build_keepalive_image("berth-bench/ka:v2", "v2\n"),
            build_keepalive_image("berth-bench/ka:v1", "v1\n"),
        ),
        LONG: (
            build_long_request_image("berth-bench/long:v2", "v2\n"),
            build_long_request_image("berth-bench/long:v1", "v1\n"),
        ),
    }
    flips: list[Flip] = []
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as home:
        p = start_platform(Path(home))
        try:
            ids = {app: deploy_first(p, app, images[app][1]) for app in (KEEPALIVE, LONG)}
            with OpenEndedLoad(p.proxy_port, streams()) as load:
                time.sleep(steady_seconds)  # the steady-state window before the first flip
                for index, (kind, i) in enumerate(plan):
                    flips.append(flip_both(p, index, kind=kind, i=i, images=images, ids=ids))
                last_ended = time.monotonic()
                time.sleep(tail_seconds)  # requests started after the last flip ended: the proof
                load.stop()
            outcomes = load.snapshot()
            cut_short = load.cut_short
        finally:
            stop_platform(p)
    after_last = {name: sum(o.stream == name and o.start > last_ended for o in outcomes) for name in APP_OF_STREAM}
    return {
        "plan": {k: sum(kind == k for kind, _ in plan) for k in ("deploy", "restart", "rollback")},
        "requests": len(outcomes),
        "failed": sum(o.failed for o in outcomes),
        "cut_short": cut_short,
        "requests_started_after_last_flip_ended": after_last,
        "streams": stream_rows(outcomes, flips[0].start),
        "flips": flip_rows(flips, outcomes),
        "first_failures": [(o.stream, o.status, o.error) for o in outcomes if o.failed][:10],
    }


# -- the report --


def ms(value: float) -> str:
    return f"{value:.1f}"


def markdown(data: dict[str, Any]) -> str:
    plan = data["plan"]
    lines = [
        f"Flips: {plan['deploy']} deploys, {plan['restart']} restarts, {plan['rollback']} rollbacks, each of "
        f"both apps at once, under load: `{KEEPALIVE}` (keep-alive app) 2 GET + 2 POST clients, `{LONG}` "
        f"(every request takes 2 s, graceful stop) 3 GET + 3 POST clients. POST bodies {len(BODY)} bytes.",
        "",
        f"**Total requests: {data['requests']}; failed: {data['failed']}** (target 0). "
        f"Load stopped only after the last flip ended; requests started after that: "
        + ", ".join(f"{k} {v}" for k, v in data["requests_started_after_last_flip_ended"].items())
        + (" — **the load's safety limit cut it short**" if data["cut_short"] else "")
        + ".",
        "",
        "| stream | requests | failed | steady p99 ms | flips p50 ms | flips p99 ms | flips p99.9 ms | flips max ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in data["streams"]:
        a, s, f = row["all"], row["steady"], row["flips"]
        lines.append(
            f"| {row['stream']} | {a['requests']} | {a['failed']} | {ms(s['p99_ms'])} | {ms(f['p50_ms'])} | "
            f"{ms(f['p99_ms'])} | {ms(f['p999_ms'])} | {ms(f['max_ms'])} |"
        )
    ka = data["streams"][0]
    ratio = ka["flips"]["p99_ms"] / ka["steady"]["p99_ms"]
    lines += [
        "",
        f"Keep-alive GET p99 during flips / steady p99 = **{ratio:.2f}x** (target ≤ 2x).",
        "",
        "Per flip (window: from the flip's request to the next flip's; requests counted where they started; "
        "`in flight` = requests to the 2 s app open on the old slot when the flip was requested):",
        "",
        f"| # | kind | s to live ({KEEPALIVE}/{LONG}) | s to old slot stopped | "
        f"{KEEPALIVE} req (GET/POST) | failed | p99 ms | p99.9 ms | max ms | "
        f"{LONG} req (GET/POST) | in flight | failed | p99 ms | p99.9 ms | max ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in data["flips"]:
        k, s = row[KEEPALIVE], row[LONG]
        lines.append(
            f"| {row['flip']} | {row['kind']} | {row['to_live_s'][KEEPALIVE]:.2f}/{row['to_live_s'][LONG]:.2f} | "
            f"{row['to_end_s']:.2f} | {k['requests']} ({k['get']}/{k['post']}) | "
            f"{k['failed']} | {ms(k['p99_ms'])} | {ms(k['p999_ms'])} | {ms(k['max_ms'])} | "
            f"{s['requests']} ({s['get']}/{s['post']}) | {s['in_flight_at_request']} | {s['failed']} | "
            f"{ms(s['p99_ms'])} | {ms(s['p999_ms'])} | {ms(s['max_ms'])} |"
        )
    if data["first_failures"]:
        lines += ["", f"First failures: {data['first_failures']}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deploys", type=int, default=50)
    parser.add_argument("--restarts", type=int, default=50)
    parser.add_argument("--rollbacks", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="3 deploys, 2 restarts, 1 rollback, 5 s steady state")
    args = parser.parse_args()
    if args.quick:
        args.deploys, args.restarts, args.rollbacks = 3, 2, 1
    plan = (
        [("deploy", i) for i in range(args.deploys)]
        + [("restart", i) for i in range(args.restarts)]
        + [("rollback", i) for i in range(args.rollbacks)]
    )
    data = run(plan, steady_seconds=5 if args.quick else 10, tail_seconds=3)
    write_report("zero_downtime", data, markdown(data))


if __name__ == "__main__":
    main()
