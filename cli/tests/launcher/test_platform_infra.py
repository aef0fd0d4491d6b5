"""The launcher brings up real Postgres, NATS and Caddy with per-service isolation."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import asyncpg
import httpx
import nats
import psutil
import pytest
from berth_cli.launcher.platform import Platform
from berth_testing import free_port

pytestmark = pytest.mark.integration


async def test_each_service_role_reaches_only_its_own_schema(infra: Platform) -> None:
    api = await asyncpg.connect(infra.service_database_url("api"))
    try:
        await api.execute("CREATE TABLE IF NOT EXISTS api.probe (x int)")
        assert await api.fetchval("SHOW search_path") == "api"
    finally:
        await api.close()
    router = await asyncpg.connect(infra.service_database_url("router"))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await router.fetch("SELECT * FROM api.probe")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await router.execute("CREATE TABLE public.sneaky (x int)")
    finally:
        await router.close()


async def test_nats_users_may_publish_only_their_own_subjects(infra: Platform) -> None:
    env = infra.service_env("router")
    errors: list[Exception] = []

    async def on_error(exc: Exception) -> None:
        errors.append(exc)

    nc = await nats.connect(
        env["BERTH_SERVICE_NATS_URL"],
        user=env["BERTH_SERVICE_NATS_USER"],
        password=env["BERTH_SERVICE_NATS_PASSWORD"],
        error_cb=on_error,
    )
    try:
        await nc.publish("berth.evt.api.app.created.x", b"{}")
        await nc.flush()
        for _ in range(50):
            if errors:
                break
            await nc.flush()
        assert any("permissions violation" in str(e).lower() for e in errors), errors
    finally:
        await nc.close()


async def test_caddy_admin_is_a_private_unix_socket_and_no_tcp_port(infra: Platform) -> None:
    socket_path = infra.settings.caddy_admin_socket
    transport = httpx.AsyncHTTPTransport(uds=str(socket_path))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        response = await client.get("/config/")
    assert response.status_code == 200
    assert stat.S_ISSOCK(socket_path.stat().st_mode) and stat.S_IMODE(socket_path.stat().st_mode) == 0o600
    caddy_pid = infra.supervisor.child("caddy").pid
    assert caddy_pid is not None
    assert _tcp_listening_ports_of(caddy_pid) <= {infra.settings.http_port, infra.settings.https_port}
    # The old admin port is not listened on by anything.
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{infra.settings.caddy_admin_port}/config/")


def test_a_local_user_cannot_use_caddys_admin_api_nor_load_a_config_serving_berth_home(infra: Platform) -> None:
    """As ``nobody``: connecting to the admin socket is refused, so the config that would serve
    $BERTH_HOME (master key, credentials) on a port of its own never loads."""
    port = free_port()
    evil = {
        "apps": {
            "http": {
                "servers": {
                    "evil": {
                        "listen": [f"127.0.0.1:{port}"],
                        "routes": [
                            {"handle": [{"handler": "file_server", "root": str(infra.home.root), "browse": {}}]}
                        ],
                    }
                }
            }
        }
    }
    probe = (
        "import json, socket, sys\n"
        "s = socket.socket(socket.AF_UNIX)\n"
        "try:\n"
        "    s.connect(sys.argv[1])\n"
        "except OSError as e:\n"
        "    print(type(e).__name__); sys.exit(3)\n"
        "body = sys.argv[2].encode()\n"
        "s.sendall(b'POST /load HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\nContent-Type: application/json\\r\\n'"
        " + b'Content-Length: %d\\r\\n\\r\\n' % len(body) + body)\n"
        "print(s.recv(200)); sys.exit(0)\n"
    )
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", sys.executable, "-c", probe,
         str(infra.settings.caddy_admin_socket), json.dumps(evil)],
        capture_output=True, text=True, timeout=30, cwd="/",
    )  # fmt: skip
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stdout.strip() == "PermissionError"
    # Nothing serves the evil port: the config never loaded.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/credentials.json", timeout=5)


def _tcp_listening_ports_of(pid: int) -> set[int]:
    return {c.laddr.port for c in psutil.Process(pid).net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN}
