"""Webhooks cannot be aimed at what only the platform can reach (server-side request forgery):
loopback, link-local, private and other non-public addresses are refused when a webhook is
created (a literal address, or a name that resolves to one) and again at every delivery, where
the name is resolved once and the connection goes to the address that was checked. A local DNS
server (pebble-challtestsrv) stands in for public DNS; nothing here connects outside the host."""

from __future__ import annotations

import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from acme_testing import challtestsrv_argv
from berth_testing import RunningPlatform, free_port, start_platform, stop_platform, wait_for

pytestmark = pytest.mark.e2e

# A public address that names are pointed at when a webhook is created. It is never connected
# to: the name moves to 127.0.0.1 before anything is delivered.
PUBLIC = "93.184.215.14"


class LocalDns:
    """pebble-challtestsrv as the platform's DNS server (BERTH_DNS_SERVER): only the records
    a test sets exist."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.admin_port = free_port()
        with open(directory / "challtestsrv.log", "wb") as out:
            argv = challtestsrv_argv(f"127.0.0.1:{self.port}", f"127.0.0.1:{self.admin_port}")
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        wait_for(lambda: self.admin("clear-a", host="probe.invalid."), what="challtestsrv to answer")

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    def admin(self, action: str, **body: object) -> bool:
        return httpx.post(f"http://127.0.0.1:{self.admin_port}/{action}", json=body, timeout=5).status_code == 200

    def point(self, name: str, address: str) -> None:
        assert self.admin("clear-a", host=f"{name}.")
        assert self.admin("add-a", host=f"{name}.", addresses=[address])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Listener:
    """A TCP listener on 127.0.0.1 that counts connections and answers each with ``answer``."""

    def __init__(self, answer: bytes = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n") -> None:
        self.answer = answer
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(65536)
                    conn.sendall(self.answer)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def dns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalDns]:
    server = LocalDns(tmp_path_factory.mktemp("dns"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def strict(
    tmp_path_factory: pytest.TempPathFactory, dns: LocalDns, test_images: dict[str, str]
) -> Iterator[RunningPlatform]:
    """A platform with the default policy (no BERTH_ALLOW_PRIVATE_WEBHOOKS) and the test DNS."""
    p = start_platform(tmp_path_factory.mktemp("berth-ssrf"), BERTH_DNS_SERVER=dns.server)
    try:
        wait_for(lambda: p.api.get("/api/webhooks").status_code == 200, timeout=60, what="the health service")
        yield p
    finally:
        stop_platform(p)


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    try:
        yield server
    finally:
        server.close()


def refused(p: RunningPlatform, url: str) -> str:
    response = p.api.post("/api/webhooks", json={"url": url, "events": ["deploy.failed"]})
    assert response.status_code == 422, (url, response.text)
    (detail,) = response.json()["error"]["details"]
    assert detail["field"] == "url"
    return str(detail["message"])


def test_webhooks_to_local_and_private_addresses_are_refused(strict: RunningPlatform, listener: Listener) -> None:
    api_port = strict.env["BERTH_API_PORT"]
    assert "loopback" in refused(strict, f"http://127.0.0.1:{api_port}/stop")
    assert "loopback" in refused(strict, f"http://127.0.0.1:{listener.port}/hook")
    assert "loopback" in refused(strict, f"http://[::1]:{listener.port}/hook")
    assert "loopback" in refused(strict, f"http://[::ffff:127.0.0.1]:{listener.port}/hook")
    assert "link-local" in refused(strict, "http://169.254.169.254/latest/meta-data/")
    assert "private" in refused(strict, "https://10.1.2.3/hook")
    assert "private" in refused(strict, "http://192.168.1.1/hook")
    assert "shared" in refused(strict, "http://100.64.0.1/hook")
    assert "private" in refused(strict, "http://[fd00::1]/hook")
    assert "unspecified" in refused(strict, f"http://0.0.0.0:{listener.port}/hook")
    # Numeric forms a resolver would read as 127.0.0.1 are not guessed at.
    assert "standard notation" in refused(strict, f"http://2130706433:{listener.port}/hook")
    assert "standard notation" in refused(strict, f"http://0x7f.1:{listener.port}/hook")
    assert strict.api.get("/api/webhooks").json()["items"] == []
    assert listener.connections == 0


def test_a_name_that_resolves_to_loopback_is_refused(
    strict: RunningPlatform, dns: LocalDns, listener: Listener
) -> None:
    dns.point("hooks.example.com", "127.0.0.1")
    message = refused(strict, f"http://hooks.example.com:{listener.port}/hook")
    assert "hooks.example.com resolves to 127.0.0.1" in message and "loopback" in message
    assert "no address" in refused(strict, "http://unknown.example.com/hook")
    assert listener.connections == 0


def deliveries_settled(p: RunningPlatform, hook_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = p.api.get(f"/api/webhooks/{hook_id}/deliveries").json()["items"]
    return items if items and all(d["status"] != "pending" for d in items) else []


def test_a_name_rebound_to_loopback_after_creation_is_refused_at_delivery(
    strict: RunningPlatform, dns: LocalDns, listener: Listener, test_images: dict[str, str]
) -> None:
    name = f"rebind-{uuid.uuid4().hex[:8]}.example.com"
    dns.point(name, PUBLIC)
    created = strict.api.post(
        "/api/webhooks", json={"url": f"http://{name}:{listener.port}/hook", "events": ["deploy.failed"]}
    )
    assert created.status_code == 201, created.text
    hook = created.json()
    dns.point(name, "127.0.0.1")  # before any delivery: the public address is never contacted
    try:
        assert strict.api.post("/api/apps", json={"name": "ssrf-rebind"}).status_code == 201
        release = strict.api.post("/api/apps/ssrf-rebind/deploy", json={"image": test_images["crash"]}).json()
        wait_for(
            lambda: strict.api.get(f"/api/apps/ssrf-rebind/releases/{release['id']}").json()["status"] == "failed",
            timeout=120,
            what="the crashing release to fail",
        )
        (delivery,) = wait_for(
            lambda: deliveries_settled(strict, hook["id"]), timeout=60, what="the delivery to be decided"
        )
        assert delivery["status"] == "failed", delivery
        assert delivery["attempts"] == 1, delivery  # refused once, not retried
        assert delivery["lastError"].startswith("refused: "), delivery
        assert f"{name} resolves to 127.0.0.1" in delivery["lastError"], delivery
        assert listener.connections == 0
    finally:
        strict.api.delete(f"/api/webhooks/{hook['id']}")
        strict.api.delete("/api/apps/ssrf-rebind")


def test_a_local_receivers_answer_is_not_shown_back(platform: RunningPlatform, test_images: dict[str, str]) -> None:
    """With BERTH_ALLOW_PRIVATE_WEBHOOKS=true (the shared platform) a local receiver works, and
    what it answers never comes back through the API, even when it is not HTTP."""
    garbage = Listener(answer=b"SECRET-FROM-INSIDE 42\r\n\r\n")
    hook: dict[str, Any] = {}
    wait_for(lambda: platform.api.get("/api/webhooks").status_code == 200, timeout=60, what="the health service")
    try:
        created = platform.api.post(
            "/api/webhooks", json={"url": f"http://127.0.0.1:{garbage.port}/hook", "events": ["deploy.failed"]}
        )
        assert created.status_code == 201, created.text
        hook = created.json()
        assert platform.api.post("/api/apps", json={"name": "ssrf-echo"}).status_code == 201
        release = platform.api.post("/api/apps/ssrf-echo/deploy", json={"image": test_images["crash"]}).json()
        wait_for(
            lambda: platform.api.get(f"/api/apps/ssrf-echo/releases/{release['id']}").json()["status"] == "failed",
            timeout=120,
            what="the crashing release to fail",
        )

        def attempted() -> dict[str, Any] | None:
            items = platform.api.get(f"/api/webhooks/{hook['id']}/deliveries").json()["items"]
            return items[0] if items and items[0]["attempts"] >= 1 else None

        delivery = wait_for(attempted, timeout=60, what="the first delivery attempt")
        assert garbage.connections >= 1
        assert delivery["lastError"] == "RemoteProtocolError: the receiver's answer was not valid HTTP", delivery
        assert "SECRET-FROM-INSIDE" not in platform.api.get("/api/webhooks").text
    finally:
        garbage.close()
        if hook:
            platform.api.delete(f"/api/webhooks/{hook['id']}")
        platform.api.delete("/api/apps/ssrf-echo")
