"""Helpers for Berth's tests: free ports, isolated settings, local test images, polling."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
from berth_shared.settings import Settings

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_handed_out: set[str] = set()


def _docker_subnets() -> list[ipaddress.IPv4Network]:
    ids = subprocess.run(["docker", "network", "ls", "-q"], capture_output=True, text=True).stdout.split()
    if not ids:
        return []
    out = subprocess.run(
        ["docker", "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", *ids],
        capture_output=True,
        text=True,
    ).stdout.split()
    return [ipaddress.IPv4Network(n) for n in out if "." in n]


def isolated_subnet_pool() -> str:
    """A /21 of 10.241.0.0/16 (128 apps' /28s: the shared e2e platform creates more than 64) that
    no Docker network uses and this test run has not handed out, so platforms of one run (and
    leftovers of another) never share addresses."""
    base = ipaddress.IPv4Network("10.241.0.0/16")
    busy = _docker_subnets()
    free = [
        str(c)
        for c in base.subnets(new_prefix=21)
        if str(c) not in _handed_out and not any(c.overlaps(n) for n in busy)
    ]
    chosen = random.choice(free)
    _handed_out.add(chosen)
    return chosen


def isolated_settings(home: Path, **overrides: str) -> Settings:
    env = {
        "BERTH_HOME": str(home),
        "BERTH_DOMAIN": "berth.test",
        "BERTH_HTTP_PORT": str(free_port()),
        "BERTH_HTTPS_PORT": str(free_port()),
        "BERTH_API_PORT": str(free_port()),
        "BERTH_NATS_PORT": str(free_port()),
        "BERTH_PG_PORT": str(free_port()),
        "BERTH_CADDY_ADMIN_PORT": str(free_port()),
        "BERTH_TLS_ASK_PORT": str(free_port()),
        "BERTH_PROXY_LOG_PORT": str(free_port()),
        "BERTH_SLOT_DNS_PORT": str(free_port()),
        "BERTH_SUBNET_POOL": isolated_subnet_pool(),
        "BERTH_HOST_ID": "local",
    }
    env.update(overrides)
    return Settings.from_env(env)


# -- test images: built locally FROM scratch with Debian's static busybox (no registry here) --

_HTTPD = ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]

_CGI_ENV = """#!/bin/sh
echo "Content-Type: text/plain"
echo ""
env | sort
"""

_CGI_HEALTH = """#!/bin/sh
# 200 unless /tmp/sick exists; /cgi-bin/sick and /cgi-bin/well switch it.
if [ -e /tmp/sick ]; then
  echo "Status: 500 Sick"; echo ""; echo sick
else
  echo "Content-Type: text/plain"; echo ""; echo ok
fi
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

# Busybox httpd stopping like most app servers do: on SIGTERM the listener goes, and the
# requests in flight (one httpd process per connection) are finished before the container exits.
# Plain busybox httpd dies at once and takes its CGI requests with it.
_GRACEFUL_HTTPD = """#!/bin/sh
httpd -f -p 8080 -h /www &
listener=$!
trap 'kill $listener; wait $listener; while [ -n "$(pidof httpd)" ]; do usleep 20000; done; exit 0' TERM
wait $listener
"""


def build_keepalive_image(tag: str, text: str) -> str:
    """Build ``tag`` FROM scratch: an HTTP/1.1 server that keeps connections alive (Caddy's own
    static binary, answering ``text`` to any method and path on 8080) and, on SIGTERM, finishes
    its requests and closes idle connections like most real app servers. Busybox httpd closes
    every connection, which hides what keep-alive does during a flip."""
    import json
    import shutil
    import subprocess
    import tempfile

    from berth_cli.launcher import caddy

    config = {
        "admin": {"disabled": True},
        "storage": {"module": "file_system", "root": "/tmp/caddy"},
        "logging": {"logs": {"default": {"level": "ERROR"}}},
        "apps": {
            "http": {
                "servers": {
                    "app": {
                        "listen": [":8080"],
                        "automatic_https": {"disable": True},
                        "routes": [{"handle": [{"handler": "static_response", "body": text}]}],
                    }
                }
            }
        },
    }
    with tempfile.TemporaryDirectory() as ctx:
        root = Path(ctx)
        (root / "tmp").mkdir()
        shutil.copy(caddy.binary(), root / "server")
        (root / "config.json").write_text(json.dumps(config))
        (root / "Dockerfile").write_text(
            "FROM scratch\n"
            "COPY server /server\n"
            "COPY config.json /config.json\n"
            "COPY tmp /tmp\n"
            "ENV HOME=/tmp XDG_DATA_HOME=/tmp XDG_CONFIG_HOME=/tmp\n"
            'CMD ["/server", "run", "--config", "/config.json"]\n'
        )
        subprocess.run(["docker", "build", "-q", "-t", tag, str(root)], check=True, capture_output=True)
    return tag


def build_busybox_image(
    tag: str, index_text: str | None, cmd: list[str] | None = None, cgi: dict[str, str] | None = None
) -> str:
    """Build ``tag`` FROM scratch: busybox httpd on 8080 serving ``index_text`` at / and CGI
    scripts at /cgi-bin/{env,health,sick,well,slow} and ``cgi`` (name: script; without
    ``index_text``, / runs ``cgi-bin/index.cgi``). ``cmd`` replaces the httpd command."""
    import json
    import shutil
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as ctx:
        root = Path(ctx)
        (root / "www" / "cgi-bin").mkdir(parents=True)
        (root / "tmp").mkdir()
        shutil.copy("/bin/busybox", root / "busybox")
        (root / "graceful-httpd").write_text(_GRACEFUL_HTTPD)
        (root / "graceful-httpd").chmod(0o755)
        if index_text is not None:
            (root / "www" / "index.html").write_text(index_text)
        for name, body in {
            "env": _CGI_ENV,
            "health": _CGI_HEALTH,
            "sick": _CGI_SICK,
            "well": _CGI_WELL,
            "slow": _CGI_SLOW,
            **(cgi or {}),
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
            "COPY graceful-httpd /bin/graceful-httpd\n"
            f"CMD {json.dumps(cmd or _HTTPD)}\n"
        )
        subprocess.run(["docker", "build", "-q", "-t", tag, str(root)], check=True, capture_output=True)
    return tag


# One access log line per request on stderr, like most web servers write, with what tells one
# client from another: Berth's probes all say ``User-Agent: Berth-Health/<version>``; Caddy's
# (Go's client) send no ``Accept``, the health service's ``Accept: */*``; requests the proxy
# forwards carry ``X-Forwarded-For``.
_CGI_ACCESS_LOG = """#!/bin/sh
echo "access from=$REMOTE_ADDR \\"$REQUEST_METHOD $REQUEST_URI\\" 200 \\"$HTTP_USER_AGENT\\" \\
accept=\\"$HTTP_ACCEPT\\" connection=\\"$HTTP_CONNECTION\\" xff=\\"$HTTP_X_FORWARDED_FOR\\"" >&2
echo "Content-Type: text/plain"; echo ""; echo hello
"""


def build_access_log_image(tag: str) -> str:
    """The busybox image answering ``hello`` at / through a CGI script that writes an access log
    line per request to stderr (see ``_CGI_ACCESS_LOG``)."""
    return build_busybox_image(tag, None, cgi={"index.cgi": _CGI_ACCESS_LOG})


def build_long_request_image(tag: str, index_text: str) -> str:
    """The busybox image (``index_text`` at /, ``/cgi-bin/slow?N`` answers after N seconds, to
    GET and POST) run by a script that, on SIGTERM, stops listening and lets the requests in
    flight finish: requests that span a flip, served by an app that stops gracefully."""
    return build_busybox_image(tag, index_text, cmd=["/bin/graceful-httpd"])


def wait_for(predicate: Callable[[], T], timeout: float = 30, interval: float = 0.2, what: str = "condition") -> T:
    """Poll ``predicate`` until it returns a truthy value, or fail after ``timeout`` seconds.
    Exceptions count as "not yet" and the last one is reported."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def api_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The API's documented error body, ``{"error": {"code", "message", "details"}}``, with
    ``status`` and the stable ``code`` a client branches on; returns the ``error`` object."""
    assert response.status_code == status, (response.request.method, str(response.request.url), response.text)
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error.get("details", []), list), error
    return error


# -- the whole platform, run by `berth up` exactly as a user runs it --

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

    @property
    def base(self) -> str:
        return str(self.api.base_url).rstrip("/")

    def proxy_get(self, hostname: str, path: str = "/", timeout: float = 10) -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.proxy_port}{path}", headers={"Host": hostname}, timeout=timeout)

    def https_get(self, hostname: str, root_pem: str | None = None, path: str = "/") -> tuple[dict[str, Any], str]:
        """GET over TLS on 127.0.0.1:<https port> with SNI ``hostname``, verified against
        ``root_pem`` (default: Caddy's internal root): the certificate must name ``hostname``.
        Returns (peer certificate, raw HTTP response)."""
        import socket
        import ssl

        if root_pem is None:
            root_pem = (self.home / "caddy/data/caddy/pki/authorities/local/root.crt").read_text()
        context = ssl.create_default_context(cadata=root_pem)
        with (
            socket.create_connection(("127.0.0.1", int(self.env["BERTH_HTTPS_PORT"])), timeout=30) as raw,
            context.wrap_socket(raw, server_hostname=hostname) as tls,
        ):
            cert = tls.getpeercert()
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {hostname}\r\nConnection: close\r\n\r\n".encode())
            chunks = []
            while chunk := tls.recv(65536):
                chunks.append(chunk)
        assert cert is not None
        return dict(cert), b"".join(chunks).decode(errors="replace")

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
        # A container removed between the listing and the inspect (a drain ending) is left out:
        # `docker inspect` still prints the ones it found, and fails only for the missing.
        out = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True).stdout
        return list(json.loads(out)) if out.strip() else []


def deploy_live(p: RunningPlatform, name: str, image: str, **settings: Any) -> dict[str, Any]:
    """Create app ``name`` (with ``settings``, e.g. ``healthCheck=...``), deploy ``image`` and wait
    until it is live; its running container."""
    created = p.api.post("/api/apps", json={"name": name, **settings})
    assert created.status_code == 201, created.text
    release = p.api.post(f"/api/apps/{name}/deploy", json={"image": image})
    assert release.status_code == 202, release.text
    rid = release.json()["id"]

    def live() -> bool:
        status = p.api.get(f"/api/apps/{name}/releases/{rid}").json()["status"]
        assert status != "failed"
        return bool(status == "live")

    wait_for(live, timeout=120, what=f"{name} live")
    (container,) = [c for c in p.containers(created.json()["id"]) if c["State"]["Running"]]
    return dict(container)


def formation_live(p: RunningPlatform, name: str, formation: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    """``PUT`` the app's formation (ADR 0026) and wait until the config release it makes is live;
    that release."""
    response = p.api.put(f"/api/apps/{name}/formation", json=formation)
    assert response.status_code == 202, response.text
    rid = response.json()["id"]

    def live() -> dict[str, Any]:
        release: dict[str, Any] = p.api.get(f"/api/apps/{name}/releases/{rid}").json()
        assert release["status"] != "failed", release.get("reason")
        return release if release["status"] == "live" else {}

    return wait_for(live, timeout=timeout, what=f"{name}'s formation live")


def start_platform(home: Path, **overrides: str) -> RunningPlatform:
    settings = isolated_settings(home, **overrides)
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
        "BERTH_TLS_ASK_PORT": str(settings.tls_ask_port),
        "BERTH_PROXY_LOG_PORT": str(settings.proxy_log_port),
        "BERTH_SLOT_DNS_PORT": str(settings.slot_dns_port),
        "BERTH_SUBNET_POOL": str(settings.subnet_pool),
        **overrides,
    }
    with open(home / "berth-up.out", "wb") as log:
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


class DockerSocketProxy:
    """A Unix-socket relay to the real Docker socket that a test can cut and restore, to make
    the engine unreachable for one platform (via DOCKER_HOST) without touching dockerd."""

    def __init__(self, path: Path, target: str = "/var/run/docker.sock") -> None:
        import threading

        self.path = path
        self.target = target
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def docker_host(self) -> str:
        return f"unix://{self.path}"

    def start(self) -> None:
        import threading

        self.path.unlink(missing_ok=True)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(self.path))
        server.listen(64)
        self._server = server
        self._thread = threading.Thread(target=self._accept, args=(server,), daemon=True)
        self._thread.start()

    def cut(self) -> None:
        """Stop accepting and drop every open connection: the engine looks gone."""
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._conns.clear()
        self.path.unlink(missing_ok=True)

    def _accept(self, server: socket.socket) -> None:
        import threading

        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self.target)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=(a, b), daemon=True).start()


def pump(src: socket.socket, dst: socket.socket) -> None:
    """Copy ``src`` to ``dst`` until ``src`` ends, then half-close ``dst`` (one direction of a relay)."""
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


@dataclass
class Sample:
    at: float
    status: int  # 0 when the request failed without an HTTP response
    latency: float
    body: str
    error: str = ""


class LoadGenerator:
    """Continuous GETs through the proxy from a few threads with keep-alive, bounded in time and
    count, recording every outcome. Only ever targets 127.0.0.1 (the proxy)."""

    def __init__(
        self,
        port: int,
        hostname: str,
        *,
        workers: int = 4,
        max_seconds: float = 300,
        max_requests: int = 500_000,
        post: bool = False,
        path: str = "/",
    ) -> None:
        import threading

        self.post = post  # POST with a body: a request no proxy may retry on its own
        self.url = f"http://127.0.0.1:{port}{path}"
        self.hostname = hostname
        self.workers = workers
        self.max_seconds = max_seconds
        self.max_requests = max_requests
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> LoadGenerator:
        import threading

        self._deadline = time.monotonic() + self.max_seconds
        for _ in range(self.workers):
            t = threading.Thread(target=self._run, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(headers={"Host": self.hostname}, timeout=30) as client:
            while not self._stop.is_set() and time.monotonic() < self._deadline:
                with self._lock:
                    if len(self.samples) >= self.max_requests:
                        return
                t0 = time.monotonic()
                try:
                    r = client.post(self.url, content=b"order=1") if self.post else client.get(self.url)
                    sample = Sample(t0, r.status_code, time.monotonic() - t0, r.text)
                except httpx.HTTPError as exc:
                    sample = Sample(t0, 0, time.monotonic() - t0, "", f"{type(exc).__name__}: {exc}")
                with self._lock:
                    self.samples.append(sample)

    def failures(self) -> list[Sample]:
        with self._lock:
            return [s for s in self.samples if s.status != 200]

    def count(self) -> int:
        with self._lock:
            return len(self.samples)

    def bodies_since(self, t: float) -> set[str]:
        with self._lock:
            return {s.body for s in self.samples if s.at >= t and s.status == 200}


async def assert_service_starts_and_stops_on_sigterm(env: dict[str, str], module: str, service: str) -> None:
    """Run ``python -m <module>`` as `berth up` runs it (with ``env``, the launcher's service
    environment): it must log "<service> started", then stop cleanly with exit 0 on SIGTERM."""
    import asyncio

    async def read_until(stream: asyncio.StreamReader, text: str, within: float) -> None:
        async with asyncio.timeout(within):
            while text.encode() not in await stream.readline():
                if stream.at_eof():
                    raise AssertionError(f"{module} ended before logging {text!r}")

    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, env={**os.environ, **env}, stderr=asyncio.subprocess.PIPE
    )
    assert proc.stderr is not None
    try:
        await read_until(proc.stderr, f"{service} started", within=30)
        proc.send_signal(signal.SIGTERM)
        await read_until(proc.stderr, f"{service} stopped", within=10)
        assert await asyncio.wait_for(proc.wait(), timeout=10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def eventually(probe: Callable[[], Any], *, within: float = 20.0, what: str = "condition") -> Any:
    """The async ``wait_for``: await ``probe()`` until it returns something truthy (which is
    returned), or fail after ``within`` seconds. A dropped connection counts as "not yet" (Caddy
    closes idle admin connections when it loads a config); any other error fails at once."""
    import asyncio

    deadline = time.monotonic() + within
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = await probe()
        except (httpx.TransportError, ConnectionError) as exc:
            last = exc
        else:
            if last:
                return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {within}s waiting for {what}; last: {last!r}")


@dataclass
class FakeMsg:
    """A JetStream message that records how it was settled (the nats ``Msg`` methods the
    shared pull loop uses), for unit tests of handlers and of the loop's settling."""

    data: bytes = b"{}"
    subject: str = "berth.test"
    settled: list[tuple[str, Any]] = field(default_factory=list)

    async def ack(self) -> None:
        self.settled.append(("ack", None))

    async def nak(self, delay: float | None = None) -> None:
        self.settled.append(("nak", delay))

    async def term(self) -> None:
        self.settled.append(("term", None))

    async def in_progress(self) -> None:
        self.settled.append(("in_progress", None))
