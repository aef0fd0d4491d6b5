"""A delivery goes to the checked address, with the name kept for Host and TLS."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

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


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate for ``name`` only (no IP address in it) and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[int, Path, list[str]]]:
    """An HTTPS receiver on 127.0.0.1 whose certificate names hooks.invalid only."""
    cert_file, key_file = _self_signed(tmp_path, "hooks.invalid")
    server_names: list[str] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    context.sni_callback = lambda _sock, name, _ctx: server_names.append(name or "")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], cert_file, server_names
    finally:
        server.shutdown()
        server.server_close()


async def test_https_is_verified_against_the_name_at_the_pinned_address(
    tls_receiver: tuple[int, Path, list[str]],
) -> None:
    port, cert_file, server_names = tls_receiver
    trust = ssl.create_default_context(cafile=str(cert_file))
    target = Target("https", "hooks.invalid", port, "127.0.0.1")
    request = pinned_request(f"https://hooks.invalid:{port}/hook", target)
    async with httpx.AsyncClient(trust_env=False, verify=trust) as http:
        response = await http.post(request.url, content=b"{}", headers=request.headers, extensions=request.extensions)
        assert response.status_code == 204
        assert server_names == ["hooks.invalid"]
        # A certificate that does not name the host is refused, even at the right address.
        other = pinned_request(
            f"https://other.invalid:{port}/hook", Target("https", "other.invalid", port, "127.0.0.1")
        )
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.post(other.url, content=b"{}", headers=other.headers, extensions=other.extensions)
