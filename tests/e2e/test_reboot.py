"""A reboot, as systemd runs it: `berth service install` writes the unit and its environment
file; shutdown stops the platform (SIGTERM to `berth up`), then the Docker engine (its containers
stop); boot starts the engine, then the platform with exactly the unit's environment. Every app
serves again, and nothing is duplicated or orphaned: one running container and one network per
app, the same iptables rules and one pool route as before, no container of another release.

The engine is this test's own (``second_engine.SecondEngine``, see tests/e2e/test_engine_restart.py
for why it shares the host's network namespace): stopping it never touches other tests' engine.
"""

from __future__ import annotations

import ipaddress
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from berth_testing import BERTH, RunningPlatform, start_platform, stop_platform, wait_for
from second_engine import SecondEngine

pytestmark = pytest.mark.e2e

IMAGE = "berth-test/web:v1"
APPS = ("alpha", "bravo", "charlie")


def free_pool() -> str:
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout.splitlines()
    used = [
        ipaddress.IPv4Network(r.split()[1] if r.startswith("unreachable") else r.split()[0], strict=False)
        for r in routes
        if r and r.split()[0] != "default"
    ]
    for candidate in list(ipaddress.IPv4Network("10.242.0.0/16").subnets(new_prefix=22))[::-1]:
        if not any(candidate.overlaps(u) for u in used):
            return str(candidate)
    raise AssertionError("no free /22 in 10.242.0.0/16")


def unit_environment(root: Path, env: dict[str, str]) -> dict[str, str]:
    """Install the unit under ``root`` and read back the settings systemd would give `berth up`."""
    done = subprocess.run(
        [BERTH, "service", "install", "--root", str(root)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    settings: dict[str, str] = {}
    for line in (root / "etc/berth/berth.env").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings[key] = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return settings


def deploy_live(p: RunningPlatform, name: str) -> None:
    assert p.api.post("/api/apps", json={"name": name, "stopTimeoutSeconds": 2}).status_code == 201
    release = p.api.post(f"/api/apps/{name}/deploy", json={"image": IMAGE}).json()

    def live() -> bool:
        r = p.api.get(f"/api/apps/{name}/releases/{release['id']}").json()
        assert r["status"] != "failed", r.get("reason")
        return bool(r["status"] == "live")

    wait_for(live, timeout=180, what=f"{name} live")


def serves(p: RunningPlatform, name: str) -> bool:
    return p.proxy_get(f"{name}.berth.test", timeout=3).text == "v1\n"


def engine_state(engine: SecondEngine, instance: str) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """(app of each running container, app of each stopped one, each network's name)."""
    ids = engine.docker("ps", "-aq", "--filter", f"label=berth.instance={instance}").stdout.split()
    running: Counter[str] = Counter()
    stopped: Counter[str] = Counter()
    for c in engine.inspect(*ids):
        labels = c["Config"]["Labels"]  # type: ignore[index]
        (running if c["State"]["Running"] else stopped)[labels["berth.app"]] += 1  # type: ignore[index]
    networks = Counter(engine.docker("network", "ls", "--format", "{{.Name}}").stdout.split())
    return running, stopped, Counter({n: k for n, k in networks.items() if instance in n})


def firewall_rules(instance: str, pool: str) -> Counter[str]:
    """Every iptables rule naming this platform's instance or its app pool (chains, jumps, drains)."""
    net = ipaddress.IPv4Network(pool)
    prefix = ".".join(str(net.network_address).split(".")[:2]) + "."
    out = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    return Counter(
        line for line in out.splitlines() if not line.startswith(("#", ":")) and (instance in line or prefix in line)
    )


def pool_routes(pool: str) -> list[str]:
    return [r for r in subprocess.run(["ip", "route"], capture_output=True, text=True).stdout.splitlines() if pool in r]


@pytest.fixture
def engine(test_images: dict[str, str]) -> SecondEngine:
    e = SecondEngine()
    e.start()
    try:
        e.load_images(IMAGE)
    except BaseException:
        e.destroy()
        raise
    return e


def test_after_a_reboot_every_app_serves_and_nothing_is_duplicated_or_orphaned(
    engine: SecondEngine, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    pool = free_pool()
    p = start_platform(home, DOCKER_HOST=engine.docker_host, BERTH_SUBNET_POOL=pool)
    booted: RunningPlatform | None = None
    try:
        for name in APPS:
            deploy_live(p, name)
        app_ids = {name: p.api.get(f"/api/apps/{name}").json()["id"] for name in APPS}
        running, stopped, networks = engine_state(engine, p.instance)
        assert running == Counter(app_ids.values()) and not stopped
        rules_before = firewall_rules(p.instance, pool)
        assert rules_before  # the egress chain is there to compare
        unit_env = unit_environment(tmp_path / "root", p.env)

        # Shutdown: systemd stops berth.service (SIGTERM, KillMode=mixed), then docker.service.
        p.proc.send_signal(signal.SIGTERM)
        assert p.proc.wait(150) == 0
        p.api.close()
        engine.stop()

        # Boot: the engine first (After=docker.service), then `berth up` with the unit's environment.
        engine.start()
        booted = start_platform(home, **{k: v for k, v in unit_env.items() if k != "BERTH_HOME"})
        assert unit_env["BERTH_HOME"] == str(home) and unit_env["DOCKER_HOST"] == engine.docker_host

        for name in APPS:
            wait_for(lambda name=name: serves(booted, name), timeout=180, what=f"{name} to serve after the reboot")

        def settled() -> tuple[Counter[str], Counter[str], Counter[str]] | None:
            state = engine_state(engine, booted.instance)
            return state if state[0] == Counter(app_ids.values()) and not state[1] else None

        _, _, networks_after = wait_for(settled, timeout=120, what="one running container per app")
        assert networks_after == networks
        assert all(count == 1 for count in networks_after.values())
        assert firewall_rules(booted.instance, pool) == rules_before
        assert len(pool_routes(pool)) == 1
        statuses = {name: booted.api.get(f"/api/apps/{name}").json()["status"] for name in APPS}
        assert set(statuses.values()) == {"running"}, statuses
    finally:
        for platform in (booted, p):
            if platform is not None and platform.proc.poll() is None:
                stop_platform(platform)
        if engine.proc is not None and engine.proc.poll() is None:
            ids = engine.docker("ps", "-aq").stdout.split()
            if ids:
                engine.docker("rm", "-f", *ids)
            nets = engine.docker("network", "ls", "-q", "--filter", "name=berth-").stdout.split()
            if nets:
                engine.docker("network", "rm", *nets)
        engine.destroy()
