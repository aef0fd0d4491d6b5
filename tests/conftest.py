"""End-to-end fixtures: the whole platform, run by `berth up` exactly as a user runs it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
from berth_testing import test_settings, wait_for

BERTH = str(Path(sys.executable).parent / "berth")


@dataclass
class RunningPlatform:
    proc: subprocess.Popen[bytes]
    home: Path
    env: dict[str, str]
    api: httpx.Client
    proxy_port: int
    instance: str
    token: str

    def proxy_get(self, hostname: str, path: str = "/", timeout: float = 10) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.proxy_port}{path}", headers={"Host": hostname}, timeout=timeout)

    def service_pid(self, module: str) -> int:
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if module in child.cmdline():
                    return child.pid
        raise LookupError(module)

    def containers(self, app_id: str | None = None) -> list[dict[str, object]]:
        filters = ["--filter", f"label=berth.instance={self.instance}"]
        if app_id:
            filters += ["--filter", f"label=berth.app={app_id}"]
        ids = subprocess.run(
            ["docker", "ps", "-aq", *filters], capture_output=True, text=True, check=True
        ).stdout.split()
        if not ids:
            return []
        out = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=True).stdout
        return list(json.loads(out))


def start_platform(home: Path, **overrides: str) -> RunningPlatform:
    settings = test_settings(home, **overrides)
    env = {
        **os.environ,
        "BERTH_HOME": str(settings.home),
        "BERTH_DOMAIN": settings.domain,
        "BERTH_HTTP_PORT": str(settings.http_port),
        "BERTH_HTTPS_PORT": str(settings.https_port),
        "BERTH_API_PORT": str(settings.api_port),
        "BERTH_NATS_PORT": str(settings.nats_port),
        "BERTH_PG_PORT": str(settings.pg_port),
        "BERTH_CADDY_ADMIN_PORT": str(settings.caddy_admin_port),
        "BERTH_SUBNET_POOL": str(settings.subnet_pool),
        **overrides,
    }
    log = open(home / "berth-up.out", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([BERTH, "up"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{settings.api_port}"

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"berth up exited with {proc.returncode}: {(home / 'berth-up.out').read_text()}")
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200

    wait_for(healthy, timeout=90, what="berth up to answer /healthz")
    token = (home / "admin-token").read_text().strip()
    instance = json.loads((home / "credentials.json").read_text())["instance"]
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return RunningPlatform(proc, home, env, client, settings.http_port, instance, token)


def stop_platform(p: RunningPlatform) -> None:
    p.api.close()
    if p.proc.poll() is None:
        p.proc.send_signal(signal.SIGTERM)
        try:
            p.proc.wait(60)
        except subprocess.TimeoutExpired:
            p.proc.kill()
            p.proc.wait()
    remove_instance_containers(p.instance)


def remove_instance_containers(instance: str) -> None:
    ids = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=berth.instance={instance}"], capture_output=True, text=True
    ).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True)
    nets = subprocess.run(
        ["docker", "network", "ls", "-q", "--filter", f"name=berth-{instance}-"], capture_output=True, text=True
    ).stdout.split()
    if nets:
        subprocess.run(["docker", "network", "rm", *nets], capture_output=True)


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory, test_images: dict[str, str]) -> Iterator[RunningPlatform]:
    p = start_platform(tmp_path_factory.mktemp("berth-home"))
    try:
        yield p
    finally:
        stop_platform(p)
