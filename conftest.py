"""Fixtures shared by every test: real infrastructure started by Berth's own launcher."""

from __future__ import annotations

import ipaddress
import random
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from berth_cli.launcher.platform import Platform
from berth_shared.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_subnet_pool() -> str:
    """A /22 of 10.241.0.0/16 picked at random so parallel or leftover runs do not collide."""
    base = ipaddress.IPv4Network("10.241.0.0/16")
    return str(random.choice(list(base.subnets(new_prefix=22))))


def test_settings(home: Path, **overrides: str) -> Settings:
    env = {
        "BERTH_HOME": str(home),
        "BERTH_DOMAIN": "berth.test",
        "BERTH_HTTP_PORT": str(free_port()),
        "BERTH_HTTPS_PORT": str(free_port()),
        "BERTH_API_PORT": str(free_port()),
        "BERTH_NATS_PORT": str(free_port()),
        "BERTH_PG_PORT": str(free_port()),
        "BERTH_CADDY_ADMIN_PORT": str(free_port()),
        "BERTH_SUBNET_POOL": test_subnet_pool(),
        "BERTH_HOST_ID": "local",
    }
    env.update(overrides)
    return Settings.from_env(env)


@pytest.fixture(scope="session")
async def infra(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    """Postgres, NATS and Caddy from the launcher, with every service's role, schema and user
    provisioned, but no service processes: integration tests run the service under test."""
    home = tmp_path_factory.mktemp("berth-infra")
    platform = Platform(test_settings(home), services=())
    await platform.start()
    try:
        yield platform
    finally:
        await platform.stop()


# -- test images: built locally FROM scratch with Debian's static busybox (no registry here) --

_HTTPD = ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]

_CGI_ENV = """#!/bin/sh
echo "Content-Type: text/plain"
echo ""
env | sort
"""

_CGI_HEALTH = """#!/bin/sh
# 200 unless /tmp/sick exists; /cgi-bin/sick and /cgi-bin/well switch it.
if [ -e /tmp/sick ]; then echo "Status: 500 Sick"; echo ""; echo sick; else echo "Content-Type: text/plain"; echo ""; echo ok; fi
"""

_CGI_SICK = """#!/bin/sh
touch /tmp/sick; echo "Content-Type: text/plain"; echo ""; echo now sick
"""

_CGI_WELL = """#!/bin/sh
rm -f /tmp/sick; echo "Content-Type: text/plain"; echo ""; echo now well
"""

_CGI_SLOW = """#!/bin/sh
sleep "${QUERY_STRING:-1}"; echo "Content-Type: text/plain"; echo ""; echo slow
"""


def build_busybox_image(tag: str, index_text: str, cmd: list[str] | None = None) -> str:
    """Build ``tag`` FROM scratch: busybox httpd on 8080 serving ``index_text`` at / and CGI
    scripts at /cgi-bin/{env,health,sick,well,slow}. ``cmd`` replaces the httpd command."""
    import json
    import shutil
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as ctx:
        root = Path(ctx)
        (root / "www" / "cgi-bin").mkdir(parents=True)
        (root / "tmp").mkdir()
        shutil.copy("/bin/busybox", root / "busybox")
        (root / "www" / "index.html").write_text(index_text)
        for name, body in {
            "env": _CGI_ENV,
            "health": _CGI_HEALTH,
            "sick": _CGI_SICK,
            "well": _CGI_WELL,
            "slow": _CGI_SLOW,
        }.items():
            script = root / "www" / "cgi-bin" / name
            script.write_text(body)
            script.chmod(0o755)
        (root / "Dockerfile").write_text(
            "FROM scratch\n"
            "COPY busybox /bin/busybox\n"
            'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
            "COPY www /www\n"
            "COPY tmp /tmp\n"
            f"CMD {json.dumps(cmd or _HTTPD)}\n"
        )
        subprocess.run(["docker", "build", "-q", "-t", tag, str(root)], check=True, capture_output=True)
    return tag


@pytest.fixture(scope="session")
def test_images() -> dict[str, str]:
    """Local images: ``v1``/``v2`` answer their name at /; ``crash`` exits 3 at once;
    ``deaf`` runs but never answers HTTP on its port."""
    return {
        "v1": build_busybox_image("berth-test/web:v1", "v1\n"),
        "v2": build_busybox_image("berth-test/web:v2", "v2\n"),
        "crash": build_busybox_image("berth-test/web:crash", "x", ["/bin/sh", "-c", "echo boom >&2; exit 3"]),
        "deaf": build_busybox_image("berth-test/web:deaf", "x", ["/bin/sh", "-c", "exec sleep 3600"]),
    }
