"""A local ACME CA for tests: Debian's ``pebble`` with ``pebble-challtestsrv`` as its DNS.

Public DNS and a public CA cannot exist here; these stand in for them, on 127.0.0.1 only.
The DNS server answers only the records a test adds (no default addresses), so a name that
was not set up does not resolve. Pebble validates challenges against the platform's own HTTP
and HTTPS ports and resolves names through the same DNS server.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from berth_testing import free_port, wait_for


def write_self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost (pebble's own HTTPS endpoint) and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "berth test acme")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "acme-cert.pem", directory / "acme-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def challtestsrv_argv(dns: str, management: str, *, default_v4: str = "", default_v6: str = "") -> list[str]:
    """``pebble-challtestsrv`` as a DNS server only (its challenge servers off): records are added
    through ``management``; names without records get ``default_v4``/``default_v6`` ("" = none)."""
    return [
        "pebble-challtestsrv",
        *("-dns01", dns, "-management", management),
        *("-http01", "", "-https01", "", "-tlsalpn01", ""),
        *("-defaultIPv4", default_v4, "-defaultIPv6", default_v6),
    ]


@dataclass
class AcmeTestServers:
    directory: Path
    http_port: int
    https_port: int
    blocked: tuple[str, ...] = ()
    dns_port: int = field(default_factory=free_port)
    dns_admin_port: int = field(default_factory=free_port)
    acme_port: int = field(default_factory=free_port)
    acme_admin_port: int = field(default_factory=free_port)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    ca_cert: Path | None = None

    @property
    def directory_url(self) -> str:
        return f"https://127.0.0.1:{self.acme_port}/dir"

    @property
    def dns_server(self) -> str:
        return f"127.0.0.1:{self.dns_port}"

    def start(self) -> None:
        for tool in ("pebble", "pebble-challtestsrv"):
            assert shutil.which(tool), f"{tool} is installed by `make test` (scripts/bootstrap.sh --dev)"
        self.ca_cert, key = write_self_signed(self.directory)
        self.spawn("challtestsrv", challtestsrv_argv(self.dns_server, f"127.0.0.1:{self.dns_admin_port}"), {})
        wait_for(lambda: self.dns_admin("clear-a", host="probe.invalid."), what="challtestsrv to answer")
        config = {
            "pebble": {
                "listenAddress": f"127.0.0.1:{self.acme_port}",
                "managementListenAddress": f"127.0.0.1:{self.acme_admin_port}",
                "certificate": str(self.ca_cert),
                "privateKey": str(key),
                "httpPort": self.http_port,
                "tlsPort": self.https_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
                "domainBlocklist": list(self.blocked),
            }
        }
        config_file = self.directory / "pebble.json"
        config_file.write_text(json.dumps(config))
        # No artificial validation delays, no rejected nonces: issuance as fast as it can be.
        env = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}
        self.spawn("pebble", ["pebble", "-config", str(config_file), "-dnsserver", self.dns_server], env)
        wait_for(lambda: self.get(self.directory_url).status_code == 200, what="pebble's ACME directory")

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        with open(self.directory / f"{name}.log", "wb") as out:  # the child keeps its own copy
            self.procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}))

    def get(self, url: str) -> httpx.Response:
        return httpx.get(url, verify=ssl.create_default_context(cafile=str(self.ca_cert)), timeout=5)

    def dns_admin(self, action: str, **body: object) -> bool:
        response = httpx.post(f"http://127.0.0.1:{self.dns_admin_port}/{action}", json=body, timeout=5)
        return response.status_code == 200

    def point(self, hostname: str, address: str) -> None:
        """Publish an A record for ``hostname``."""
        assert self.dns_admin("add-a", host=f"{hostname}.", addresses=[address])

    def issuing_root(self) -> str:
        """PEM of the root that signs the certificates pebble issues (new on every start)."""
        return self.get(f"https://127.0.0.1:{self.acme_admin_port}/roots/0").text

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
