"""External NATS and Postgres replace the embedded ones (BERTH_NATS_URL, BERTH_DATABASE_URL),
and BERTH_ADMIN_TOKEN given at first start becomes the admin token."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from berth_cli.launcher import nats_server
from berth_cli.launcher.platform import Platform
from berth_testing import free_port, isolated_settings, start_platform, stop_platform, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def external_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = tmp_path_factory.mktemp("ext-nats")
    port = free_port()
    proc = subprocess.Popen(
        [nats_server.binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _tcp_open(port), what="external nats")
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def external_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Postgres that is not the platform's own: another launcher's, reached over TCP as superuser."""
    other = Platform(isolated_settings(tmp_path_factory.mktemp("ext-pg")), services=())
    loop = asyncio.new_event_loop()
    loop.run_until_complete(other.start())
    try:
        password = other.credentials.pg_superuser_password
        yield f"postgresql://postgres:{password}@127.0.0.1:{other.settings.pg_port}/postgres"
    finally:
        loop.run_until_complete(other.stop())
        loop.close()


def _tcp_open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_platform_runs_on_external_nats_and_postgres(
    tmp_path_factory: pytest.TempPathFactory, external_nats: str, external_postgres: str, test_images: dict[str, str]
) -> None:
    home: Path = tmp_path_factory.mktemp("berth-ext")
    p = start_platform(
        home, BERTH_NATS_URL=external_nats, BERTH_DATABASE_URL=external_postgres, BERTH_ADMIN_TOKEN="my-own-token-123"
    )
    try:
        assert p.token == "my-own-token-123"
        assert not (home / "postgres").exists() or not any((home / "postgres").iterdir())
        assert not any((home / "nats").iterdir())
        assert p.api.post("/api/apps", json={"name": "ext"}).status_code == 201
        rel = p.api.post("/api/apps/ext/deploy", json={"image": test_images["v1"]}).json()
        wait_for(lambda: p.api.get(f"/api/apps/ext/releases/{rel['id']}").json()["status"] == "live", timeout=60)
        wait_for(lambda: p.proxy_get("ext.berth.test").text == "v1\n", what="served")
        wrong = httpx.get(f"{p.base}/api/apps", headers={"Authorization": "Bearer " + json.dumps("x")})
        assert wrong.status_code == 401
    finally:
        stop_platform(p)
