"""Deploy-to-first-200 through the proxy, against the floor of a bare `docker run` + first 200.

Both are measured in the same run with the same local image. Target (foundation issue):
p50 <= 1.5 s and <= 4x the floor. Usage: .venv/bin/python bench/deploy_latency.py [N]
"""

from __future__ import annotations

import ipaddress
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from _common import summary, write_report
from berth_testing import build_busybox_image, start_platform, stop_platform, wait_for


def first_200(url: str, headers: dict[str, str] | None = None, expect: str | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url, headers=headers, timeout=2)
            if r.status_code == 200 and (expect is None or r.text == expect):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
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


def main(n: int) -> None:
    v1 = build_busybox_image("berth-bench/web:v1", "v1\n")
    v2 = build_busybox_image("berth-bench/web:v2", "v2\n")
    floor = floor_runs(v1, n)
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as home:
        p = start_platform(Path(home))
        try:
            first, redeploy = [], []
            for i in range(n):
                name = f"bench{i}"
                assert p.api.post("/api/apps", json={"name": name}).status_code == 201
                host = {"Host": f"{name}.berth.test"}
                url = f"http://127.0.0.1:{p.proxy_port}/"
                t0 = time.monotonic()
                assert p.api.post(f"/api/apps/{name}/deploy", json={"image": v1}).status_code == 202
                first_200(url, host, "v1\n")
                first.append(time.monotonic() - t0)
            name = "bench0"
            for i in range(n):
                image, body = (v2, "v2\n") if i % 2 == 0 else (v1, "v1\n")
                t0 = time.monotonic()
                rel = p.api.post(f"/api/apps/{name}/deploy", json={"image": image}).json()
                first_200(f"http://127.0.0.1:{p.proxy_port}/", {"Host": f"{name}.berth.test"}, body)
                redeploy.append(time.monotonic() - t0)
                wait_for(
                    lambda rid=rel["id"]: p.api.get(f"/api/apps/{name}/releases/{rid}").json()["status"] == "live",
                    timeout=60,
                )
        finally:
            stop_platform(p)
    f, d, r = summary(floor), summary(first), summary(redeploy)
    ratio = d["p50"] / f["p50"]
    md = (
        "| measurement | n | p50 s | p90 s | max s |\n|---|---|---|---|---|\n"
        f"| floor: docker run + first 200 | {f['n']} | {f['p50']:.3f} | {f['p90']:.3f} | {f['max']:.3f} |\n"
        f"| Berth first deploy → first 200 via proxy | {d['n']} | {d['p50']:.3f} | {d['p90']:.3f} | {d['max']:.3f} |\n"
        f"| Berth redeploy → new version via proxy | {r['n']} | {r['p50']:.3f} | {r['p90']:.3f} | {r['max']:.3f} |\n"
        f"\nFirst deploy p50 / floor p50 = **{ratio:.2f}x** (target ≤ 4x, p50 ≤ 1.5 s).\n"
    )
    write_report("deploy_latency", {"floor": f, "first_deploy": d, "redeploy": r, "ratio_p50": ratio}, md)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
