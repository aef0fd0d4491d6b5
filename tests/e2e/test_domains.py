"""Custom domains end to end, through `berth up`: an attached hostname is routed to the app's
slots over HTTP at once and stops being routed when detached; bad and taken names are refused;
the CLI drives the same API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from berth_testing import RunningPlatform, wait_for

pytestmark = pytest.mark.e2e

BERTH = str(Path(sys.executable).parent / "berth")


def deployed(p: RunningPlatform, name: str, image: str) -> dict[str, Any]:
    response = p.api.post("/api/apps", json={"name": name})
    assert response.status_code == 201, response.text
    app: dict[str, Any] = response.json()
    assert p.api.post(f"/api/apps/{name}/deploy", json={"image": image}).status_code == 202
    wait_for(lambda: body_at(p, f"{name}.berth.test") == "v1\n", timeout=90, what=f"{name} serving v1")
    return app


def body_at(p: RunningPlatform, hostname: str) -> str | None:
    response = p.proxy_get(hostname)
    return response.text if response.status_code == 200 else None


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def test_a_custom_hostname_routes_to_the_app_over_http_until_it_is_removed(
    platform: RunningPlatform, test_images: dict[str, str]
) -> None:
    p = platform
    deployed(p, "dom-web", test_images["v1"])
    assert p.proxy_get("www.dom-web.example.test").status_code == 404

    response = p.api.post("/api/apps/dom-web/domains", json={"hostname": "WWW.Dom-Web.Example.TEST."})
    assert response.status_code == 201, response.text
    domain = response.json()
    assert domain["hostname"] == "www.dom-web.example.test"
    assert domain["proxyTarget"] == "dom-web.berth.test"
    assert domain["verifiedAt"] is None
    assert domain["tlsStatus"] in ("pending", "issued")
    assert set(domain) >= {"id", "hostname", "verifiedAt", "tlsStatus", "proxyTarget"}

    wait_for(lambda: body_at(p, "www.dom-web.example.test") == "v1\n", what="the custom hostname to serve v1")
    listed = p.api.get("/api/apps/dom-web/domains").json()["items"]
    assert [d["id"] for d in listed] == [domain["id"]]

    assert p.api.delete(f"/api/apps/dom-web/domains/{domain['id']}").status_code == 200
    wait_for(lambda: p.proxy_get("www.dom-web.example.test").status_code == 404, what="the hostname to stop routing")
    assert body_at(p, "dom-web.berth.test") == "v1\n"
    assert p.api.get("/api/apps/dom-web/domains").json()["items"] == []
    error_of(p.api.delete(f"/api/apps/dom-web/domains/{domain['id']}"), 404)


@pytest.mark.parametrize(
    "hostname", ["10.0.0.1", "::1", "nodots", "bad_label.example.com", "-x.example.com", "a" * 64 + ".com", ""]
)
def test_invalid_hostnames_are_refused_with_422_naming_the_field(platform: RunningPlatform, hostname: str) -> None:
    p = platform
    if p.api.get("/api/apps/dom-bad").status_code == 404:
        assert p.api.post("/api/apps", json={"name": "dom-bad"}).status_code == 201
    error = error_of(p.api.post("/api/apps/dom-bad/domains", json={"hostname": hostname}), 422)
    assert [d["field"] for d in error["details"]] == ["hostname"]


def test_taken_hostnames_and_names_under_the_platform_domain_are_refused_with_409(platform: RunningPlatform) -> None:
    p = platform
    for name in ("dom-one", "dom-two"):
        assert p.api.post("/api/apps", json={"name": name}).status_code == 201
    assert p.api.post("/api/apps/dom-one/domains", json={"hostname": "shop.example.test"}).status_code == 201

    for app, hostname, words in [
        ("dom-two", "shop.example.test", "already attached to app 'dom-one'"),
        ("dom-one", "Shop.Example.Test", "already attached to this app"),
        ("dom-two", "dom-one.berth.test", "under BERTH_DOMAIN"),
        ("dom-two", "www.dom-one.berth.test", "under BERTH_DOMAIN"),
        ("dom-two", "berth.test", "platform's own"),
        ("dom-two", "dom-two.berth.test", "generated hostname"),
    ]:
        error = error_of(p.api.post(f"/api/apps/{app}/domains", json={"hostname": hostname}), 409)
        assert words in error["message"], (hostname, error)

    # A name under the app's own generated hostname is its own to use.
    assert p.api.post("/api/apps/dom-two/domains", json={"hostname": "www.dom-two.berth.test"}).status_code == 201
    # Deleting the owner frees its hostnames.
    assert p.api.delete("/api/apps/dom-one").status_code == 202
    assert p.api.post("/api/apps/dom-two/domains", json={"hostname": "shop.example.test"}).status_code == 201


def berth(p: RunningPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BERTH_URL": p.base, "BERTH_TOKEN": p.token, "XDG_CONFIG_HOME": str(p.home / "cli-config")}
    return subprocess.run([BERTH, *args], env=env, capture_output=True, text=True, timeout=60)


def test_domains_through_the_cli(platform: RunningPlatform, test_images: dict[str, str]) -> None:
    p = platform
    deployed(p, "dom-cli", test_images["v1"])

    added = berth(p, "domains", "add", "dom-cli", "cli.example.test", "--json")
    assert added.returncode == 0, added.stderr
    domain = json.loads(added.stdout)
    assert (domain["hostname"], domain["proxyTarget"]) == ("cli.example.test", "dom-cli.berth.test")
    wait_for(lambda: body_at(p, "cli.example.test") == "v1\n", what="the hostname added by the CLI to route")

    listed = berth(p, "domains", "list", "dom-cli")
    assert listed.returncode == 0 and "cli.example.test" in listed.stdout and "dom-cli.berth.test" in listed.stdout
    # A local name: certified by the internal CA, no verification needed.
    assert "internal" in listed.stdout and "not needed" in listed.stdout, listed.stdout
    assert [d["hostname"] for d in json.loads(berth(p, "domains", "list", "dom-cli", "--json").stdout)] == [
        "cli.example.test"
    ]

    taken = berth(p, "domains", "add", "dom-cli", "cli.example.test")
    assert taken.returncode == 6 and "already attached" in taken.stderr, taken.stderr
    invalid = berth(p, "domains", "add", "dom-cli", "10.1.2.3")
    assert invalid.returncode == 2 and "hostname" in invalid.stderr, invalid.stderr

    removed = berth(p, "domains", "remove", "dom-cli", "cli.example.test")
    assert removed.returncode == 0 and "detached cli.example.test" in removed.stdout, removed.stderr
    wait_for(lambda: p.proxy_get("cli.example.test").status_code == 404, what="the removed hostname to stop routing")
    assert berth(p, "domains", "remove", "dom-cli", domain["id"]).returncode == 5


def test_https_with_sni_serves_a_custom_hostname_with_an_internal_ca_certificate_naming_it(
    platform: RunningPlatform, test_images: dict[str, str]
) -> None:
    p = platform
    deployed(p, "dom-tls", test_images["v1"])
    response = p.api.post("/api/apps/dom-tls/domains", json={"hostname": "secure.dom-tls.test"})
    assert response.status_code == 201, response.text
    domain_id = response.json()["id"]

    cert, reply = wait_for(lambda: p.https_get("secure.dom-tls.test"), timeout=60, what="HTTPS for the hostname")
    names = [value for kind, value in cert["subjectAltName"] if kind == "DNS"]
    assert names == ["secure.dom-tls.test"]
    assert reply.startswith("HTTP/1.1 200") and reply.endswith("v1\n"), reply

    # The generated hostname gets its certificate the same way.
    cert, reply = wait_for(lambda: p.https_get("dom-tls.berth.test"), timeout=60, what="HTTPS for the generated name")
    assert reply.endswith("v1\n")

    def issued() -> bool:
        (d,) = p.api.get("/api/apps/dom-tls/domains").json()["items"]
        return bool(d["tlsStatus"] == "issued")

    wait_for(issued, what="tlsStatus issued once Caddy holds the certificate")
    assert p.api.delete(f"/api/apps/dom-tls/domains/{domain_id}").status_code == 200
    wait_for(lambda: p.proxy_get("secure.dom-tls.test").status_code == 404, what="the hostname to stop routing")
