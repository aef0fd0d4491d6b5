"""Custom domains with public names, end to end through `berth up`: verification before any CA
is asked, a real ACME flow through Caddy's on-demand TLS against a local ACME server (pebble,
with its own DNS server standing in for public DNS), HTTP→HTTPS redirects once a certificate
exists, failures with their reasons, and the router's lines in the app's proxy log."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from acme_testing import AcmeTestServers
from berth_testing import RunningPlatform, free_port, start_platform, stop_platform, wait_for

pytestmark = pytest.mark.e2e

BLOCKED = "blocked.example.com"
DOMAIN = "apps.example.com"


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AcmeTestServers]:
    servers = AcmeTestServers(
        tmp_path_factory.mktemp("acme"), http_port=free_port(), https_port=free_port(), blocked=(BLOCKED,)
    )
    try:
        servers.start()
        yield servers
    finally:
        servers.stop()


@pytest.fixture(scope="module")
def public(
    tmp_path_factory: pytest.TempPathFactory, acme: AcmeTestServers, test_images: dict[str, str]
) -> Iterator[RunningPlatform]:
    """A platform whose public names are certified by pebble; this host's address is 127.0.0.1.
    Its apps' generated hostnames are public too (under apps.example.com)."""
    p = start_platform(
        tmp_path_factory.mktemp("berth-acme"),
        BERTH_DOMAIN=DOMAIN,
        BERTH_HTTP_PORT=str(acme.http_port),
        BERTH_HTTPS_PORT=str(acme.https_port),
        BERTH_ACME_CA=acme.directory_url,
        BERTH_ACME_CA_ROOT=str(acme.ca_cert),
        BERTH_DNS_SERVER=acme.dns_server,
        BERTH_PUBLIC_ADDRESSES="127.0.0.1",
    )
    try:
        yield p
    finally:
        stop_platform(p)


def deployed(p: RunningPlatform, name: str, image: str) -> None:
    assert p.api.post("/api/apps", json={"name": name}).status_code == 201
    assert p.api.post(f"/api/apps/{name}/deploy", json={"image": image}).status_code == 202
    wait_for(lambda: p.proxy_get(f"{name}.{DOMAIN}").text == "v1\n", timeout=90, what=f"{name} serving v1")


def domain(p: RunningPlatform, app: str, hostname: str) -> dict[str, Any]:
    (found,) = [d for d in p.api.get(f"/api/apps/{app}/domains").json()["items"] if d["hostname"] == hostname]
    return dict(found)


def attach(p: RunningPlatform, app: str, hostname: str) -> None:
    response = p.api.post(f"/api/apps/{app}/domains", json={"hostname": hostname})
    assert response.status_code == 201, response.text


def tls_status(p: RunningPlatform, app: str, hostname: str, prefix: str, what: str) -> dict[str, Any]:
    """Wait until the domain's ``tlsStatus`` starts with ``prefix``; returns the domain."""

    def reached() -> dict[str, Any] | None:
        d = domain(p, app, hostname)
        return d if str(d["tlsStatus"]).startswith(prefix) else None

    return dict(wait_for(reached, timeout=90, what=what))


def proxy_log(p: RunningPlatform, app: str) -> list[str]:
    response = p.api.get(f"/api/apps/{app}/logs", params={"stream": "proxy", "limit": 500})
    assert response.status_code == 200, response.text
    return [item["message"] for item in response.json()["items"]]


def test_a_verified_public_name_gets_an_acme_certificate_on_demand_and_http_redirects_to_it(
    public: RunningPlatform, acme: AcmeTestServers, test_images: dict[str, str]
) -> None:
    p = public
    deployed(p, "acme-web", test_images["v1"])
    acme.point("shop.example.com", "127.0.0.1")
    # Over HTTP the name is served at once, before any certificate.
    attach(p, "acme-web", "shop.example.com")
    wait_for(lambda: p.proxy_get("shop.example.com").text == "v1\n", what="the name over HTTP")
    d = tls_status(p, "acme-web", "shop.example.com", "issued", "the ACME certificate to be issued")
    assert d["verifiedAt"] is not None and d["tlsIssuer"] == "acme" and d["checkedAt"] is not None

    cert, reply = p.https_get("shop.example.com", acme.issuing_root())
    assert [v for kind, v in cert["subjectAltName"] if kind == "DNS"] == ["shop.example.com"]
    assert reply.startswith("HTTP/1.1 200") and reply.endswith("v1\n"), reply

    def redirected() -> httpx.Response | None:
        response = p.proxy_get("shop.example.com", "/some/page?q=1")
        return response if response.status_code == 308 else None

    response = wait_for(redirected, what="HTTP to redirect to HTTPS once the certificate exists")
    assert response.headers["location"] == f"https://shop.example.com:{acme.https_port}/some/page?q=1"
    # ACME HTTP-01 challenges still reach the server over HTTP (renewals need them).
    assert p.proxy_get("shop.example.com", "/.well-known/acme-challenge/unknown-token").status_code != 308

    lines = proxy_log(p, "acme-web")
    assert any("shop.example.com: verified by dns" in line for line in lines), lines
    assert any("shop.example.com: certificate issued (acme CA)" in line for line in lines), lines
    kinds = [e["kind"] for e in p.api.get("/api/apps/acme-web/events").json()["items"]]
    assert "domain.issued" in kinds, kinds


def test_a_name_that_reaches_this_host_only_through_nat_is_verified_by_http_token(
    public: RunningPlatform, acme: AcmeTestServers, test_images: dict[str, str]
) -> None:
    p = public
    deployed(p, "acme-nat", test_images["v1"])
    # 127.0.0.2 is not among the host's addresses, but it reaches this host (like a NAT'd IP).
    acme.point("nat.example.com", "127.0.0.2")
    attach(p, "acme-nat", "nat.example.com")
    d = tls_status(p, "acme-nat", "nat.example.com", "issued", "the name verified over HTTP to get its certificate")
    assert d["verifiedAt"] is not None
    assert any("nat.example.com: verified by http" in line for line in proxy_log(p, "acme-nat"))


def test_a_name_pointing_elsewhere_is_never_certified_and_says_why(
    public: RunningPlatform, acme: AcmeTestServers, test_images: dict[str, str]
) -> None:
    p = public
    deployed(p, "acme-away", test_images["v1"])
    acme.point("away.example.com", "192.0.2.10")  # TEST-NET: somebody else's server
    attach(p, "acme-away", "away.example.com")
    attach(p, "acme-away", "nodns.example.com")  # no record at all

    away = tls_status(p, "acme-away", "away.example.com", "failed: ", "verification to fail")
    assert away["verifiedAt"] is None
    # The router retries (10 s later); the retry moves checkedAt but adds no history entry.
    wait_for(
        lambda: domain(p, "acme-away", "away.example.com")["checkedAt"] != away["checkedAt"],
        timeout=60,
        what="a second verification attempt",
    )
    history = p.api.get("/api/apps/acme-away/events").json()["items"]
    failed = [e for e in history if e["kind"] == "domain.failed" and "away.example.com" in json.dumps(e)]
    assert len(failed) == 1, failed
    assert "resolves to 192.0.2.10, not to this host (127.0.0.1)" in away["tlsStatus"], away
    nodns = tls_status(p, "acme-away", "nodns.example.com", "failed: ", "verification to fail")
    assert "has no A/AAAA record" in nodns["tlsStatus"], nodns

    # The ask endpoint refuses it, so a handshake for it gets no certificate at all.
    ask = httpx.get(f"http://127.0.0.1:{p.env['BERTH_TLS_ASK_PORT']}/ask", params={"domain": "away.example.com"})
    assert ask.status_code == 403
    with pytest.raises(ssl.SSLError):
        p.https_get("away.example.com", acme.issuing_root())
    assert not list(Path(p.home, "caddy").rglob("away.example.com.crt"))

    def refusal_logged() -> list[str] | None:
        lines = proxy_log(p, "acme-away")
        return (
            lines if any("away.example.com: certificate not requested: not verified yet" in x for x in lines) else None
        )

    lines = wait_for(refusal_logged, what="the refused certificate in the app's proxy log")
    assert any("away.example.com: failed: DNS:" in line for line in lines), lines


def test_the_ask_endpoint_refuses_names_no_app_has_and_local_names(public: RunningPlatform) -> None:
    port = public.env["BERTH_TLS_ASK_PORT"]
    for name in ("example.org", "anything.example.com", f"nobody.{DOMAIN}", "localhost", "x.berth.test"):
        assert httpx.get(f"http://127.0.0.1:{port}/ask", params={"domain": name}).status_code == 403, name


def test_a_certificate_the_ca_refuses_shows_the_cas_reason(
    public: RunningPlatform, acme: AcmeTestServers, test_images: dict[str, str]
) -> None:
    p = public
    deployed(p, "acme-blocked", test_images["v1"])
    acme.point(BLOCKED, "127.0.0.1")
    attach(p, "acme-blocked", BLOCKED)

    d = tls_status(p, "acme-blocked", BLOCKED, "failed: certificate:", "the CA's refusal to show")
    assert d["verifiedAt"] is not None  # the name is fine; the CA said no
    assert "rejectedIdentifier" in d["tlsStatus"] or "blocked" in d["tlsStatus"], d
    assert p.proxy_get(BLOCKED).text == "v1\n"  # and HTTP keeps serving it


def test_routing_failures_show_in_the_apps_proxy_log(public: RunningPlatform) -> None:
    p = public
    assert p.api.post("/api/apps", json={"name": "acme-empty"}).status_code == 201  # nothing deployed
    wait_for(lambda: p.proxy_get("acme-empty.apps.example.com").status_code == 503, what="the app's 503 page")
    # Five visitors at once (Caddy looks for a healthy slot for a few seconds before giving up).
    with ThreadPoolExecutor(5) as pool:
        statuses = list(
            pool.map(lambda _: p.proxy_get("acme-empty.apps.example.com", "/x?token=secret").status_code, range(5))
        )
    assert statuses == [503] * 5

    def routing_lines() -> list[str] | None:
        lines = [line for line in proxy_log(p, "acme-empty") if line.startswith("routing: 503")]
        return lines or None

    lines = wait_for(routing_lines, what="the routing failure in the app's proxy log")
    assert "GET /" in lines[0] and "acme-empty.apps.example.com" in lines[0]

    def folded() -> list[str] | None:
        every = proxy_log(p, "acme-empty")
        return every if any("repeated" in line for line in every) else None

    # Repeats within a window are folded into a count; query strings are never written.
    every = wait_for(folded, what="repeated failures to be summarised")
    assert len([line for line in every if line.startswith("routing: 503")]) < 6, every
    assert not any("secret" in line for line in every)


def test_generated_hostnames_get_acme_certificates_the_same_way(
    public: RunningPlatform, acme: AcmeTestServers, test_images: dict[str, str]
) -> None:
    p = public
    deployed(p, "acme-gen", test_images["v1"])
    hostname = f"acme-gen.{DOMAIN}"
    acme.point(hostname, "127.0.0.1")  # the operator's wildcard record for *.apps.example.com
    # The first visitor's handshake obtains the certificate (the ask endpoint approves the name).
    cert, reply = wait_for(lambda: p.https_get(hostname, acme.issuing_root()), timeout=90, what="HTTPS")
    assert [v for kind, v in cert["subjectAltName"] if kind == "DNS"] == [hostname]
    assert reply.endswith("v1\n"), reply
    response = wait_for(
        lambda: (r := p.proxy_get(hostname, "/a")).status_code == 308 and r, what="HTTP to redirect to HTTPS"
    )
    assert response.headers["location"] == f"https://{hostname}:{acme.https_port}/a"


def test_the_public_platform_hostname_is_https_only_with_hsts_and_still_reaches_the_api(
    public: RunningPlatform, acme: AcmeTestServers
) -> None:
    p = public
    # Over HTTP: a redirect at once, before any certificate exists; ACME challenges excepted.
    response = p.proxy_get(DOMAIN, "/api/apps?limit=1")
    assert response.status_code == 308, response.text
    assert response.headers["location"] == f"https://{DOMAIN}:{acme.https_port}/api/apps?limit=1"
    assert p.proxy_get(DOMAIN, "/.well-known/acme-challenge/unknown-token").status_code != 308
    # Over HTTPS (the first handshake obtains the certificate): the API answers, with HSTS that
    # leaves subdomains (the apps) to choose for themselves.
    acme.point(DOMAIN, "127.0.0.1")
    _, reply = wait_for(lambda: p.https_get(DOMAIN, acme.issuing_root(), "/api/apps"), timeout=90, what="HTTPS")
    head = reply.split("\r\n\r\n", 1)[0].lower()
    assert head.startswith("http/1.1 401"), head
    assert "strict-transport-security: max-age=31536000" in head and "includesubdomains" not in head
    # The interactive API docs are not served on the public route.
    _, docs = p.https_get(DOMAIN, acme.issuing_root(), "/api/docs")
    assert docs.lower().startswith("http/1.1 404"), docs[:200]
