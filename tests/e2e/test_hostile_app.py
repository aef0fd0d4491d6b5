"""A hostile app: a deployed container that probes whatever it can reach from the inside; and a
hostile build, whose RUN steps probe the same, and whose upload tries ADD <url> and a gzip bomb.

It must not reach the control plane (API, NATS, Postgres, Caddy's admin, the router's loopback
ports) on any of the host's addresses, nor any other service on the host, nor another app's
slot, nor link-local metadata, nor a private LAN. It still reaches its own public hostname
through the proxy's public port. The "outside" is made by the test itself: a network namespace
behind a veth pair holding a metadata stand-in (169.254.169.254) and a private-LAN host
(192.168.<n>.2), each answering HTTP; no real outside address is ever contacted.
"""

from __future__ import annotations

import io
import random
import secrets
import socket
import subprocess
import tarfile
import tempfile
import threading
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from berth_shared.contracts.builds import MAX_UNPACKED_CONTEXT_BYTES
from berth_testing import deploy_live, wait_for

pytestmark = pytest.mark.e2e

METADATA = "169.254.169.254"
PROBES_AT_ONCE = 64  # two processes each: under the app's pids limit (256)
PROBE_SECONDS = 3


@dataclass(frozen=True)
class Outside:
    lan_host: str  # the host's own address on the LAN stand-in
    lan_peer: str  # another machine on that LAN (inside the namespace)
    metadata: str


def _ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], check=check, capture_output=True)


def _free_lan() -> int:
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True).stdout
    free = [n for n in range(100, 200) if f"192.168.{n}." not in routes]
    return random.choice(free)


@pytest.fixture(scope="module")
def outside() -> Iterator[Outside]:
    """A namespace on a veth pair: 192.168.<n>.2 and 169.254.169.254 inside, 192.168.<n>.1 on
    the host side; busybox httpd answers on port 80 inside."""
    tag = secrets.token_hex(3)
    ns, host_end, ns_end = f"bhostile-{tag}", f"bh{tag}a", f"bh{tag}b"
    n = _free_lan()
    found = Outside(lan_host=f"192.168.{n}.1", lan_peer=f"192.168.{n}.2", metadata=METADATA)
    www = Path(tempfile.mkdtemp(prefix="bhostile-"))
    (www / "index.html").write_text("outside-secret\n")
    server = None
    try:
        _ip("netns", "add", ns)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
        _ip("link", "set", ns_end, "netns", ns)
        _ip("addr", "add", f"{found.lan_host}/24", "dev", host_end)
        _ip("link", "set", host_end, "up")
        inside = ["netns", "exec", ns, "ip"]
        _ip(*inside, "addr", "add", f"{found.lan_peer}/24", "dev", ns_end)
        _ip(*inside, "addr", "add", f"{METADATA}/32", "dev", ns_end)
        _ip(*inside, "link", "set", ns_end, "up")
        _ip(*inside, "link", "set", "lo", "up")
        _ip(*inside, "route", "add", "default", "via", found.lan_host)
        _ip("route", "add", f"{METADATA}/32", "via", found.lan_peer)
        server = subprocess.Popen(
            ["ip", "netns", "exec", ns, "busybox", "httpd", "-f", "-p", "80", "-h", str(www)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # The stand-ins are real: the host itself reaches both.
        for address in (found.lan_peer, METADATA):
            wait_for(lambda a=address: httpx.get(f"http://{a}/", timeout=2).text == "outside-secret\n")
        yield found
    finally:
        if server is not None:
            server.kill()
            server.wait()
        _ip("route", "del", f"{METADATA}/32", "via", found.lan_peer, check=False)
        _ip("link", "del", host_end, check=False)
        _ip("netns", "del", ns, check=False)


@pytest.fixture(scope="module")
def host_service() -> Iterator[int]:
    """A TCP service on all of the host's addresses (anything an admin runs there)."""
    server = socket.create_server(("0.0.0.0", 0))
    server.settimeout(0.5)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.sendall(b"host-secret\n")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        server.close()


def _address(container: dict[str, Any]) -> tuple[str, str]:
    """(its own address, its network's gateway)."""
    (network,) = container["NetworkSettings"]["Networks"].values()
    return str(network["IPAddress"]), str(network["Gateway"])


def _host_addresses() -> list[str]:
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    found = [line.split()[3].split("/")[0] for line in out.splitlines()]
    return [a for a in found if not a.startswith("127.")]


def _reachable(container: str, targets: list[tuple[str, int]]) -> dict[tuple[str, int], bool]:
    """Connect from inside the container to each target (busybox nc, short timeout), in groups
    run side by side: a platform with many apps has many host addresses (a gateway per app),
    and one probe after another could outlast the test's timeout."""
    probes = [
        f"(if nc -w {PROBE_SECONDS} {host} {port} -e /bin/true 2>/dev/null; "
        f"then echo {host}:{port}:open; else echo {host}:{port}:closed; fi) &"
        for host, port in targets
    ]
    groups = [probes[i : i + PROBES_AT_ONCE] for i in range(0, len(probes), PROBES_AT_ONCE)]
    script = " ".join(" ".join(group) + " wait;" for group in groups)
    out = subprocess.run(
        ["docker", "exec", container, "sh", "-c", script], capture_output=True, text=True, timeout=600
    ).stdout
    results: dict[tuple[str, int], bool] = {}
    for line in out.splitlines():
        host, port, state = line.rsplit(":", 2)
        results[(host, int(port))] = state == "open"
    assert set(results) == set(targets), out
    return results


def _fetch(container: str, address: str, port: int = 80, host_header: str = "x") -> str:
    """An HTTP/1.0 GET from inside the container (busybox nc: its static wget cannot resolve; the
    sending side stays open a moment, as a proxy takes a half-close for a client that left);
    the body, or ``<failed: …>`` with what happened."""
    request = f"GET / HTTP/1.0\\r\\nHost: {host_header}\\r\\n\\r\\n"
    done = subprocess.run(
        [
            "docker",
            "exec",
            container,
            "sh",
            "-c",
            f'(printf "{request}"; sleep 2) | nc -w {PROBE_SECONDS} {address} {port}',
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    head, sep, body = done.stdout.partition("\n\n")  # text mode: CRLFs read as newlines
    if done.returncode == 0 and sep and " 200 " in head.splitlines()[0]:
        return body
    return f"<failed: exit {done.returncode}: {done.stdout[:300]!r} {done.stderr[:300]!r}>"


@pytest.fixture(scope="module")
def hostile(platform: Any, test_images: dict[str, str]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    attacker = deploy_live(platform, "hostile", test_images["v1"])
    victim = deploy_live(platform, "victim", test_images["v2"])
    try:
        yield attacker, victim
    finally:
        for name in ("hostile", "victim"):
            platform.api.delete(f"/api/apps/{name}")


def test_app_reaches_no_platform_port_on_any_host_address(
    platform: Any, hostile: tuple[dict[str, Any], dict[str, Any]], host_service: int
) -> None:
    attacker, _ = hostile
    _, gateway = _address(attacker)
    env = platform.env
    ports = [
        int(env["BERTH_API_PORT"]),
        int(env["BERTH_NATS_PORT"]),
        int(env["BERTH_PG_PORT"]),
        int(env["BERTH_CADDY_ADMIN_PORT"]),
        int(env["BERTH_TLS_ASK_PORT"]),
        int(env["BERTH_PROXY_LOG_PORT"]),
        host_service,
    ]
    addresses = sorted({gateway, *_host_addresses()})
    targets = [(a, p) for a in addresses for p in ports]
    opened = [t for t, ok in _reachable(attacker["Id"], targets).items() if ok]
    assert opened == [], f"an app container reached host ports: {opened}"
    # The stand-in is a real service on every address: the host itself reaches it.
    with socket.create_connection((gateway, host_service), timeout=5) as conn:
        assert conn.recv(64) == b"host-secret\n"


def test_app_reaches_neither_metadata_nor_a_private_lan(
    hostile: tuple[dict[str, Any], dict[str, Any]], outside: Outside
) -> None:
    attacker, _ = hostile
    for address in (outside.metadata, outside.lan_peer, outside.lan_host):
        assert _fetch(attacker["Id"], address).startswith("<failed: ")
    targets = [(outside.metadata, 80), (outside.lan_peer, 80), (outside.lan_host, 80)]
    opened = [t for t, ok in _reachable(attacker["Id"], targets).items() if ok]
    assert opened == []


def test_app_cannot_reach_another_apps_slot(hostile: tuple[dict[str, Any], dict[str, Any]]) -> None:
    attacker, victim = hostile
    victim_address, _ = _address(victim)
    assert _reachable(attacker["Id"], [(victim_address, 8080)]) == {(victim_address, 8080): False}
    # The victim is up: its own network's members (itself) reach it.
    assert _fetch(victim["Id"], victim_address, 8080) == "v2\n"


def test_app_still_reaches_its_own_hostname_through_the_proxy(
    platform: Any, hostile: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    attacker, _ = hostile
    _, gateway = _address(attacker)
    port = int(platform.env["BERTH_HTTP_PORT"])
    assert _fetch(attacker["Id"], gateway, port, host_header="hostile.berth.test") == "v1\n"
    assert _fetch(attacker["Id"], gateway, port, host_header="victim.berth.test") == "v2\n"


# -- a hostile build: its RUN steps and its Dockerfile ------------------------------------------


def _context(dockerfile: str) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _upload(p: Any, app: str, body: bytes) -> httpx.Response:
    response: httpx.Response = p.api.post(
        f"/api/apps/{app}/builds", content=body, headers={"Content-Type": "application/x-tar"}, timeout=300
    )
    return response


def _gzip_bomb(member_size: int) -> bytes:
    """A tar.gz of one file of zeros, ~1/1000 of its unpacked size."""
    info = tarfile.TarInfo("zeros.bin")
    info.size = member_size
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [squeeze.compress(info.tobuf(format=tarfile.GNU_FORMAT))]
    zeros = bytes(1024 * 1024)
    parts += [squeeze.compress(zeros) for _ in range(member_size // len(zeros))]
    parts += [squeeze.compress(bytes(1024)), squeeze.flush()]
    return b"".join(parts)


@pytest.fixture(scope="module")
def builder_app(platform: Any) -> Iterator[str]:
    created = platform.api.post("/api/apps", json={"name": "hostile-build"})
    assert created.status_code == 201, created.text
    yield "hostile-build"
    platform.api.delete("/api/apps/hostile-build")


def test_build_steps_reach_neither_the_host_nor_metadata_nor_a_lan(
    platform: Any,
    test_images: dict[str, str],
    builder_app: str,
    outside: Outside,
    host_service: int,
) -> None:
    targets = [(a, host_service) for a in _host_addresses()]
    targets += [(a, int(platform.env[k])) for a in _host_addresses() for k in ("BERTH_API_PORT", "BERTH_NATS_PORT")]
    targets += [(outside.metadata, 80), (outside.lan_peer, 80), (outside.lan_host, 80)]
    each = [
        f"(if nc -w {PROBE_SECONDS} {host} {port} -e /bin/true 2>/dev/null; "
        f"then echo probe:{host}:{port}:open; else echo probe:{host}:{port}:closed; fi) &"
        for host, port in targets
    ]
    # side by side in groups, like _reachable: one after another outlasts the test's timeout
    probes = " ".join(" ".join(each[i : i + PROBES_AT_ONCE]) + " wait;" for i in range(0, len(each), PROBES_AT_ONCE))
    marker = f"probes-done-{uuid.uuid4().hex[:6]}"
    dockerfile = f"FROM {test_images['v1']}\nRUN {probes} echo {marker}\n"
    uploaded = _upload(platform, builder_app, _context(dockerfile))
    assert uploaded.status_code == 202, uploaded.text
    rid = uploaded.json()["id"]

    def finished() -> dict[str, Any] | None:
        shown = dict(platform.api.get(f"/api/apps/{builder_app}/releases/{rid}").json())
        return shown if shown["status"] in ("live", "failed") else None

    release = wait_for(finished, timeout=600, what="the probing build")
    assert release["status"] == "live", release.get("reason")

    def full_log() -> str | None:
        text = str(platform.api.get(f"/api/apps/{builder_app}/releases/{rid}").json()["buildLog"])
        return text if f"\n{marker}" in text else None

    log = wait_for(full_log, timeout=120, what="the build log")
    results = [line for line in log.splitlines() if "probe:" in line and line.rstrip().endswith(("open", "closed"))]
    assert len(results) == len(targets), log
    assert not [r for r in results if r.rstrip().endswith(":open")], results


def test_add_url_is_refused_at_upload(platform: Any, builder_app: str) -> None:
    dockerfile = "FROM scratch\nadd --checksum=sha256:00 \\\n  http://169.254.169.254/latest/meta-data/ /m\n"
    refused = _upload(platform, builder_app, _context(dockerfile))
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["details"][0]["field"] == "body"
    assert "line 2: ADD http://169.254.169.254/latest/meta-data/ is refused" in error["details"][0]["message"]


def test_a_gzip_bomb_is_refused_naming_the_unpacked_limit(platform: Any, builder_app: str) -> None:
    bomb = _gzip_bomb(MAX_UNPACKED_CONTEXT_BYTES + 1024 * 1024)
    assert len(bomb) < 5 * 1024 * 1024  # well under the 200 MiB upload limit
    refused = _upload(platform, builder_app, bomb)
    assert refused.status_code == 413, refused.text
    assert refused.json()["error"]["code"] == "payload_too_large"
    assert f"more than {MAX_UNPACKED_CONTEXT_BYTES // (1024 * 1024)} MiB" in refused.json()["error"]["message"]
