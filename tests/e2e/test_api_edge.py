"""The API's edge, attacked on a running platform: huge bodies without a token, oversized JSON,
token guessing (per real client, also behind the proxy), the schema and docs, and the session
cookie over HTTP and HTTPS.

Each client here connects from its own loopback address (127.0.0.x): the API sees that peer,
so the lockouts these tests provoke never touch another test's client (127.0.0.1)."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import httpx
import psutil
import pytest
from berth_testing import RunningPlatform

pytestmark = pytest.mark.e2e

MIB = 1024 * 1024


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int  # body bytes the server let us send before it answered

    def json(self) -> Any:
        return json.loads(self.body)


def _read_answer(sock: socket.socket, deadline: float) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response; got {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def upload(
    port: int,
    path: str,
    total: int,
    *,
    headers: dict[str, str] | None = None,
    chunked: bool = False,
    source: str = "127.0.0.1",
    on_progress: Any = None,
    timeout: float = 120,
) -> Answer:
    """POST ``total`` bytes of JSON-looking filler as a stream (Content-Length, or chunked
    without one), stopping as soon as the server answers or closes; nothing is held in memory."""
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    head += ["Transfer-Encoding: chunked"] if chunked else [f"Content-Length: {total}"]
    piece = b'{"name": "' + b"a" * (64 * 1024 - 10)
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0)) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sent = 0
        while sent < total and time.monotonic() < deadline:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            chunk = piece[: total - sent]
            try:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
            if on_progress is not None:
                on_progress()
        if chunked and sent >= total:
            with suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(b"0\r\n\r\n")
        try:
            status, answer_headers, body = _read_answer(sock, deadline)
        except ConnectionResetError as exc:
            raise AssertionError(f"connection reset after {sent} bytes without an answer") from exc
    return Answer(status, answer_headers, body, sent)


class Rss:
    """The API process's resident memory, sampled while a test runs."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.start = self.process.memory_info().rss
        self.peak = self.start

    def sample(self) -> None:
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def growth_mb(self) -> float:
        self.sample()
        return (self.peak - self.start) / MIB


@contextmanager
def client(p: RunningPlatform, source: str, **kwargs: Any) -> Iterator[httpx.Client]:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=p.base, transport=transport, timeout=30, **kwargs) as c:
        yield c


def proxy_secret(p: RunningPlatform) -> str:
    return str(json.loads((p.home / "credentials.json").read_text())["proxy_secret"])


def api_port(p: RunningPlatform) -> int:
    return int(p.env["BERTH_API_PORT"])


def test_an_unauthenticated_300_mb_body_is_refused_before_it_is_read(platform: RunningPlatform) -> None:
    rss = Rss(platform.service_pid("berth_api"))
    for chunked in (False, True):
        started = time.monotonic()
        answer = upload(
            api_port(platform), "/api/apps", 300 * MIB, chunked=chunked, source="127.0.0.21", on_progress=rss.sample
        )
        assert answer.status == 401, answer.body
        assert answer.json()["error"]["code"] == "unauthorized"
        assert answer.sent < 300 * MIB, "the whole body was accepted before the answer"
        assert time.monotonic() - started < 60
    assert rss.growth_mb < 20, f"the API grew by {rss.growth_mb:.0f} MB"
    # A wrong token is refused just as early.
    answer = upload(
        api_port(platform),
        "/api/apps",
        300 * MIB,
        headers={"Authorization": "Bearer wrong"},
        source="127.0.0.21",
        on_progress=rss.sample,
    )
    assert answer.status == 401 and answer.sent < 300 * MIB
    assert rss.growth_mb < 20, f"the API grew by {rss.growth_mb:.0f} MB"


def test_an_authenticated_body_over_1_mib_gets_413_without_being_kept(platform: RunningPlatform) -> None:
    rss = Rss(platform.service_pid("berth_api"))
    auth = {"Authorization": f"Bearer {platform.token}"}
    for chunked in (False, True):
        answer = upload(api_port(platform), "/api/apps", 2 * MIB, headers=auth, chunked=chunked, on_progress=rss.sample)
        assert answer.status == 413, answer.body
        assert answer.json()["error"]["code"] == "payload_too_large"
        assert "1 MiB" in answer.json()["error"]["message"]
    # A huge authenticated chunked body is cut off at the cap, not read to its end.
    answer = upload(api_port(platform), "/api/apps", 300 * MIB, headers=auth, chunked=True, on_progress=rss.sample)
    assert answer.status == 413 and answer.sent < 300 * MIB
    assert rss.growth_mb < 20, f"the API grew by {rss.growth_mb:.0f} MB"
    # The sign-in body has a smaller cap of its own.
    answer = upload(api_port(platform), "/api/session", 64 * 1024, headers={"X-Berth-CSRF": "1"})
    assert answer.status == 413
    # Ordinary requests still work.
    assert platform.api.post("/api/apps", json={"name": "edge-small"}).status_code == 201


def test_eleven_wrong_tokens_lock_the_client_out_and_no_credentials_do_not_count(platform: RunningPlatform) -> None:
    with client(platform, "127.0.0.31") as c:
        for _ in range(20):
            assert c.get("/api/apps").status_code == 401  # no credentials at all: not a failure
        wrong = {"Authorization": "Bearer not-the-token"}
        for _ in range(10):
            assert c.get("/api/apps", headers=wrong).status_code == 401
        locked = c.get("/api/apps", headers=wrong)
        assert locked.status_code == 429, locked.text
        assert locked.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(locked.headers["retry-after"]) <= 60
        # Locked out: even the right token gets 429 (no oracle), and so does the sign-in.
        right = {"Authorization": f"Bearer {platform.token}"}
        assert c.get("/api/apps", headers=right).status_code == 429
        assert c.post("/api/session", json={"token": platform.token}, headers={"X-Berth-CSRF": "1"}).status_code == 429
        for _ in range(5):
            assert c.get("/api/apps", headers=wrong).status_code == 429
    with client(platform, "127.0.0.32") as other:
        assert other.get("/api/apps", headers={"Authorization": f"Bearer {platform.token}"}).status_code == 200
    entries = platform.api.get("/api/audit", params={"action": "auth.lockout"}).json()["items"]
    mine = [e for e in entries if e["detail"].get("client") == "127.0.0.31"]
    assert len(mine) == 1, entries  # one entry per lockout, not per refused request
    assert mine[0]["detail"]["retryAfterSeconds"] == 60
    api_log = (platform.home / "logs" / "api.log").read_text()
    assert api_log.count("client 127.0.0.31 locked out for 60 s") == 1


def test_wrong_tokens_at_sign_in_count_too(platform: RunningPlatform) -> None:
    with client(platform, "127.0.0.33", headers={"X-Berth-CSRF": "1"}) as c:
        for _ in range(10):
            assert c.post("/api/session", json={"token": "nope"}).status_code == 401
        assert c.post("/api/session", json={"token": "nope"}).status_code == 429
        # GET /api/session answers signedIn either way: it must not become a free oracle.
        assert c.get("/api/session", headers={"Authorization": "Bearer nope"}).status_code == 429


def test_a_forged_forwarded_for_without_the_proxy_secret_is_ignored(platform: RunningPlatform) -> None:
    with client(platform, "127.0.0.41") as c:
        statuses = [
            c.get(
                "/api/apps",
                headers={
                    "Authorization": "Bearer wrong",
                    "X-Forwarded-For": f"198.51.100.{i}",
                    "X-Berth-Proxy": "guessed",
                },
            ).status_code
            for i in range(11)
        ]
    assert statuses == [401] * 10 + [429]


def test_behind_the_proxy_each_forwarded_client_is_limited_on_its_own(platform: RunningPlatform) -> None:
    secret = proxy_secret(platform)

    def via_proxy(forwarded: str, token: str) -> dict[str, str]:
        return {"X-Berth-Proxy": secret, "X-Forwarded-For": forwarded, "Authorization": f"Bearer {token}"}

    with client(platform, "127.0.0.51") as c:
        # The client may put anything first; the proxy appends the real address last.
        for _ in range(10):
            assert c.get("/api/apps", headers=via_proxy("10.9.9.9, 203.0.113.7", "wrong")).status_code == 401
        assert c.get("/api/apps", headers=via_proxy("203.0.113.7", "wrong")).status_code == 429
        assert c.get("/api/apps", headers=via_proxy("10.9.9.9, 203.0.113.8", platform.token)).status_code == 200
        # The proxy's own address (the peer) is not locked out by its clients' failures.
        assert c.get("/api/apps", headers={"Authorization": f"Bearer {platform.token}"}).status_code == 200
    entries = platform.api.get("/api/audit", params={"action": "auth.lockout"}).json()["items"]
    assert [e["detail"]["client"] for e in entries].count("203.0.113.7") == 1


def test_no_docs_page_and_the_schema_only_for_token_holders(platform: RunningPlatform) -> None:
    with client(platform, "127.0.0.61") as c:
        assert c.get("/api/docs").status_code in (401, 404)
        assert "swagger" not in c.get("/api/docs").text.lower()
        schema = c.get("/api/openapi.json")
        assert schema.status_code == 401
        assert schema.json()["error"]["code"] == "unauthorized"
    schema = platform.api.get("/api/openapi.json")
    assert schema.status_code == 200
    assert "/api/apps" in schema.json()["paths"]


def test_the_session_cookie_is_host_prefixed_and_secure_over_https_only(platform: RunningPlatform) -> None:
    csrf = {"X-Berth-CSRF": "1"}
    with client(platform, "127.0.0.71") as c:
        plain = c.post("/api/session", json={"token": platform.token}, headers=csrf)
        assert plain.status_code == 201
        cookie = plain.headers["set-cookie"]
        assert cookie.startswith("berth_session=")
        assert "secure" not in cookie.lower() and "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        assert c.get("/api/apps").status_code == 200  # the plain cookie signs in over HTTP

    secure_proxy = {**csrf, "X-Berth-Proxy": proxy_secret(platform), "X-Forwarded-Proto": "https"}
    with client(platform, "127.0.0.72") as c:
        # X-Forwarded-Proto from anyone but the proxy is not believed.
        forged = c.post("/api/session", json={"token": platform.token}, headers={**csrf, "X-Forwarded-Proto": "https"})
        assert forged.headers["set-cookie"].startswith("berth_session=")
        c.cookies.clear()
        secure = c.post("/api/session", json={"token": platform.token}, headers=secure_proxy)
        assert secure.status_code == 201
        cookie = secure.headers["set-cookie"]
        assert cookie.startswith("__Host-berth_session=")
        attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
        assert {"secure", "httponly", "samesite=strict", "path=/"} <= attributes
        assert not any(a.startswith("domain") for a in attributes)
        value = cookie.split(";")[0].split("=", 1)[1]
    https = {"X-Berth-Proxy": proxy_secret(platform), "X-Forwarded-Proto": "https"}
    with client(platform, "127.0.0.73") as c:
        assert c.get("/api/apps", headers={**https, "Cookie": f"__Host-berth_session={value}"}).status_code == 200
        # Over HTTPS an unprefixed cookie (which an app on a subdomain could plant) is not read.
        assert c.get("/api/apps", headers={**https, "Cookie": f"berth_session={value}"}).status_code == 401


def test_through_the_proxy_the_real_client_is_locked_out_not_the_proxy(platform: RunningPlatform) -> None:
    """On the platform hostname Caddy names each client to the API (X-Berth-Proxy + its own
    X-Forwarded-For); a client's own X-Forwarded-For and X-Berth-Proxy change nothing."""
    hostname = platform.env["BERTH_DOMAIN"]
    proxy = f"http://127.0.0.1:{platform.proxy_port}"

    def through_proxy(source: str) -> httpx.Client:
        transport = httpx.HTTPTransport(local_address=source)
        return httpx.Client(base_url=proxy, transport=transport, headers={"Host": hostname}, timeout=30)

    with through_proxy("127.0.0.81") as attacker:
        statuses = [
            attacker.get(
                "/api/apps",
                headers={
                    "Authorization": "Bearer wrong",
                    "X-Forwarded-For": f"198.51.100.{i}",
                    "X-Berth-Proxy": "guessed",
                },
            ).status_code
            for i in range(11)
        ]
        assert statuses == [401] * 10 + [429]
        locked = attacker.get("/api/apps", headers={"Authorization": f"Bearer {platform.token}"})
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    with through_proxy("127.0.0.82") as neighbour:
        assert neighbour.get("/api/apps", headers={"Authorization": f"Bearer {platform.token}"}).status_code == 200
    assert platform.api.get("/api/apps").status_code == 200  # the loopback client is not locked out either
    entries = platform.api.get("/api/audit", params={"action": "auth.lockout"}).json()["items"]
    assert [e["detail"]["client"] for e in entries].count("127.0.0.81") == 1
