"""A delivery goes to the checked address, with the name kept for Host and TLS."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from berth_health.delivery import PinnedRequest, describe_failure, pinned_request
from berth_shared.webhook_targets import Target


@pytest.mark.parametrize(
    ("url", "target", "expected"),
    [
        (
            "https://hooks.example.com/in?x=1",
            Target("https", "hooks.example.com", 443, "93.184.215.14"),
            PinnedRequest(
                "https://93.184.215.14:443/in?x=1",
                {"Host": "hooks.example.com"},
                {"sni_hostname": "hooks.example.com"},
            ),
        ),
        (
            "http://hooks.example.com:8080",
            Target("http", "hooks.example.com", 8080, "2606:4700::1"),
            PinnedRequest("http://[2606:4700::1]:8080/", {"Host": "hooks.example.com:8080"}, {}),
        ),
        (
            "http://user:pw@hooks.example.com/a#frag",
            Target("http", "hooks.example.com", 80, "93.184.215.14"),
            PinnedRequest("http://user:pw@93.184.215.14:80/a", {"Host": "hooks.example.com"}, {}),
        ),
        (
            "http://[::1]:9000/x",
            Target("http", "::1", 9000, "::1"),
            PinnedRequest("http://[::1]:9000/x", {"Host": "[::1]:9000"}, {}),
        ),
    ],
)
def test_the_request_names_the_address_and_keeps_the_name(url: str, target: Target, expected: PinnedRequest) -> None:
    assert pinned_request(url, target) == expected


@pytest.fixture
def receiver() -> Iterator[tuple[int, list[str]]]:
    hosts: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hosts.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], hosts
    finally:
        server.shutdown()
        server.server_close()


async def test_the_client_connects_to_the_address_without_resolving_the_name(receiver: tuple[int, list[str]]) -> None:
    port, hosts = receiver
    # .invalid never resolves (RFC 6761): the request can only arrive through the pinned address.
    target = Target("http", "hooks.invalid", port, "127.0.0.1")
    request = pinned_request(f"http://hooks.invalid:{port}/hook", target)
    async with httpx.AsyncClient(trust_env=False) as http:
        response = await http.post(request.url, content=b"{}", headers=request.headers, extensions=request.extensions)
    assert response.status_code == 204
    assert hosts == [f"hooks.invalid:{port}"]


def test_failures_never_carry_what_the_receiver_sent() -> None:
    leak = httpx.RemoteProtocolError("illegal status line: bytearray(b'SECRET 42')")
    assert describe_failure(leak) == "RemoteProtocolError: the receiver's answer was not valid HTTP"
    assert describe_failure(httpx.ReadTimeout("x")) == "ReadTimeout: no answer within the timeout"
    assert describe_failure(httpx.ConnectError("[Errno 111] Connection refused")) == (
        "ConnectError: [Errno 111] Connection refused"
    )
    assert describe_failure(httpx.DecodingError("SECRET")) == "DecodingError"
