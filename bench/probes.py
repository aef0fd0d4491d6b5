"""How many requests reach idle apps from the platform itself: deploys idle apps that write an
access log line per request, waits until their deploy gates are over, then counts for
``--seconds`` (default 300) the requests each app logged, by source: Berth's health service,
the proxy's own probes, requests the proxy forwarded (none: nobody uses the apps), anything else.
The health service's own record of its checks in the same window is shown beside the count
read from the apps' logs.

Target (issue 16): at most one request per app per configured health interval in all, none of
them from the proxy.
Usage: .venv/bin/python bench/probes.py [--apps N] [--seconds S] [--interval S]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import write_report
from berth_testing import RunningPlatform, build_access_log_image, deploy_live, start_platform, stop_platform

SOURCES = ("health service", "proxy probe", "proxied request", "other")
SETTLE_SECONDS = 3  # after the last app is live: its deploy gate has stopped asking

_FIELD = re.compile(r'(\w+)="([^"]*)"')


# -- deciding: who sent a request, from the app's access log line (pure) --


def source_of(line: str) -> str:
    """The request's source by its headers (see ``berth_testing._CGI_ACCESS_LOG``): a forwarded
    request carries X-Forwarded-For; Berth's probes say Berth-Health/; of those, Caddy's (Go's
    client) send no Accept, the health service's client ``Accept: */*``."""
    fields = dict(_FIELD.findall(line))
    if fields.get("xff"):
        return "proxied request"
    if "Berth-Health/" not in line:
        return "other"
    return "health service" if fields.get("accept") == "*/*" else "proxy probe"


def counts(lines: list[str]) -> dict[str, int]:
    tally = dict.fromkeys(SOURCES, 0)
    for line in lines:
        if " access from=" in f" {line}":
            tally[source_of(line)] += 1
    return tally


def verdict(per_app: list[dict[str, int]], seconds: float, interval: float) -> dict[str, Any]:
    """The target: per app, all platform requests together ≤ one per interval (+1 for the
    window's edges), so the proxy adds none beyond the health service's; and the proxy's own
    probes per app per 10 s (the issue's fallback bound: at most one)."""
    budget = int(seconds / interval) + 1
    worst = max(sum(c.values()) for c in per_app)
    proxy_per_10s = max(c["proxy probe"] for c in per_app) / seconds * 10
    return {
        "budget_per_app": budget,
        "worst_app": worst,
        "proxy_per_app_per_10s": proxy_per_10s,
        "met": worst <= budget,
    }


# -- doing --


def access_lines(container_id: str, since: float, until: float) -> list[str]:
    out = subprocess.run(
        ["docker", "logs", "--since", f"{since:.3f}", "--until", f"{until:.3f}", container_id],
        capture_output=True,
        text=True,
        check=True,
    )
    return (out.stdout + out.stderr).splitlines()


def recorded_checks(p: RunningPlatform, app: str, since: float, until: float) -> int:
    """Checks the health service recorded for ``app`` in [since, until]."""
    items = p.api.get(f"/api/apps/{app}/health", params={"limit": 500}).json()["history"]["items"]
    stamps = [datetime.fromisoformat(i["timestamp"]).timestamp() for i in items]
    return sum(since <= t <= until for t in stamps)


def run(apps: int, seconds: float, interval: float) -> dict[str, Any]:
    image = build_access_log_image("berth-bench/access-log:v1")
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as home:
        p = start_platform(Path(home))
        try:
            names = [f"idle{i}" for i in range(apps)]
            containers = {}
            for name in names:
                check = {"path": "/", "intervalSeconds": interval}
                containers[name] = str(deploy_live(p, name, image, healthCheck=check)["Id"])
            time.sleep(SETTLE_SECONDS)
            since = time.time()
            time.sleep(seconds)
            until = time.time()
            per_app = {name: counts(access_lines(cid, since, until)) for name, cid in containers.items()}
            recorded = {name: recorded_checks(p, name, since, until) for name in names}
        finally:
            stop_platform(p)
    return {
        "apps": apps,
        "seconds": seconds,
        "interval_seconds": interval,
        "window": [datetime.fromtimestamp(t, UTC).isoformat() for t in (since, until)],
        "per_app": per_app,
        "health_service_recorded": recorded,
        "totals": {s: sum(c[s] for c in per_app.values()) for s in SOURCES},
        "verdict": verdict(list(per_app.values()), seconds, interval),
    }


def markdown(data: dict[str, Any]) -> str:
    apps, seconds, interval = data["apps"], data["seconds"], data["interval_seconds"]
    totals, v = data["totals"], data["verdict"]
    per_second = {s: n / apps / seconds for s, n in totals.items()}
    lines = [
        f"{apps} idle apps (health check every {interval:g} s), requests each logged over {seconds:g} s "
        "(from the apps' own access logs), by source:",
        "",
        "| source | requests | per app per second | per app per health interval |",
        "|---|---|---|---|",
    ]
    lines += [f"| {s} | {totals[s]} | {per_second[s]:.3f} | {per_second[s] * interval:.2f} |" for s in SOURCES]
    total = sum(totals.values())
    lines += [
        f"| **all** | {total} | {total / apps / seconds:.3f} | {total / apps / seconds * interval:.2f} |",
        "",
        f"The health service's own record: {sum(data['health_service_recorded'].values())} checks in the window "
        f"(the apps logged {totals['health service']} from it).",
        "",
        f"Target: ≤ {v['budget_per_app']} requests per app in {seconds:g} s in all (one per interval), none "
        f"from the proxy beyond that. Busiest app: {v['worst_app']}: " + ("**met**." if v["met"] else "**not met**."),
        f"The proxy's own probes, busiest app: {v['proxy_per_app_per_10s']:.1f} per 10 s (fallback bound: ≤ 1).",
        "",
        "| app | " + " | ".join(SOURCES) + " | health service recorded |",
        "|---|" + "---|" * (len(SOURCES) + 1),
    ]
    for name, c in data["per_app"].items():
        cells = " | ".join(str(c[s]) for s in SOURCES)
        lines.append(f"| {name} | {cells} | {data['health_service_recorded'][name]} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=300, help="how long to count (default 300)")
    parser.add_argument("--interval", type=float, default=10, help="each app's health check interval (default 10)")
    args = parser.parse_args()
    data = run(args.apps, args.seconds, args.interval)
    write_report("probes", data, markdown(data))


if __name__ == "__main__":
    main()
