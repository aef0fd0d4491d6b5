"""The whole Caddy JSON config, rendered from the routes table by one pure function.

Every app gets one route that lists both of its blue/green slots permanently, with active
and passive health checks and a retry window (design §5): a deploy flips slots underneath
and never changes this config, so Caddy is reloaded only when apps, ports or hosts change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from berth_shared.netplan import SLOTS, slot_address
from berth_shared.proxy import ACTIVE_HEALTH_INTERVAL_SECONDS

from berth_router import pages

SERVER_NAME = "berth"
TLS_SERVER_NAME = "berth_tls"
# Top-level names that never resolve publicly: their certificates come from Caddy's internal CA.
LOCAL_TLDS = ("localhost", "test")

HEALTH_INTERVAL = f"{int(ACTIVE_HEALTH_INTERVAL_SECONDS * 1000)}ms"
HEALTH_TIMEOUT = "1s"
PASSIVE_FAIL_DURATION = "3s"
PASSIVE_MAX_FAILS = 1
TRY_DURATION = "5s"
TRY_INTERVAL = "100ms"
DIAL_TIMEOUT = "1s"

# What Caddy's reverse proxy reports when no upstream is available (503) or none answered (502).
NO_UPSTREAM_STATUSES = (502, 503)

Config = dict[str, Any]


@dataclass(frozen=True)
class Route:
    """One app as the router sees it: where its host is served from."""

    app_id: str
    name: str
    hostname: str
    port: int
    subnet: str
    health_path: str = "/"
    # The app's expected health status: 0 = Caddy's default (any 2xx/3xx); 1-5 = that class;
    # 100-599 = that code. Caddy's ``expect_status`` takes exactly these forms.
    expect_status: int = 0
    # Custom hostnames attached to the app: served by the same route, from the same slots.
    domains: tuple[str, ...] = ()

    @property
    def hosts(self) -> list[str]:
        """Every hostname the app answers: its generated one first, then its domains in order."""
        return [self.hostname, *sorted(set(self.domains) - {self.hostname})]


@dataclass(frozen=True)
class PlatformRoute:
    """The platform's own hostname (``BERTH_DOMAIN``): the dashboard and API behind the proxy."""

    hostname: str
    api_port: int


def is_local_name(hostname: str) -> bool:
    """Names no public CA will certify: they get certificates from Caddy's internal CA."""
    return any(hostname == tld or hostname.endswith(f".{tld}") for tld in LOCAL_TLDS)


def render(
    routes: Iterable[Route],
    *,
    http_port: int,
    admin_port: int,
    platform: PlatformRoute | None = None,
    https_port: int | None = None,
    tls_internal: bool = False,
) -> Config:
    """The full config Caddy should run: equal inputs (in any order) give equal output.

    With ``https_port``, a second server serves the same routes over TLS there. Caddy manages
    the certificates: names from :data:`LOCAL_TLDS` (every name when ``tls_internal``) from its
    internal CA; public names get none yet (no CA is asked before Berth verifies a name).
    """
    ordered = sorted(routes, key=lambda r: (r.hostname, r.app_id))
    own = [platform_route(platform)] if platform is not None else []
    routes_json = [*own, *(app_route(r) for r in ordered), not_found_route()]
    errors_json = {"routes": [no_release_route(r) for r in ordered]}
    servers: Config = {
        SERVER_NAME: {
            "listen": [f":{http_port}"],
            "automatic_https": {"disable": True},
            "routes": routes_json,
            "errors": errors_json,
        }
    }
    config: Config = {
        "admin": {"listen": f"127.0.0.1:{admin_port}"},
        "logging": {"logs": {"default": {"level": "WARN"}}},
        "apps": {"http": {"servers": servers}},
    }
    if https_port is None:
        return config
    hosts = sorted({h for r in ordered for h in r.hosts} | ({platform.hostname} if platform else set()))
    internal = [h for h in hosts if tls_internal or is_local_name(h)]
    public = [h for h in hosts if h not in internal]
    automatic: Config = {"disable_redirects": True}
    if public:
        automatic["skip_certificates"] = public
    servers[TLS_SERVER_NAME] = {
        "listen": [f":{https_port}"],
        "automatic_https": automatic,
        "tls_connection_policies": [{}],
        "routes": routes_json,
        "errors": errors_json,
    }
    config["apps"]["http"]["http_port"] = http_port
    config["apps"]["http"]["https_port"] = https_port
    # A policy without subjects would match every name: only list one when there are names.
    policies = [{"subjects": internal, "issuers": [{"module": "internal"}]}] if internal else []
    config["apps"]["tls"] = {"automation": {"policies": policies}}
    # Never touch the system's trust store: Berth runs unprivileged.
    config["apps"]["pki"] = {"certificate_authorities": {"local": {"install_trust": False}}}
    return config


def upstreams(route: Route) -> list[dict[str, str]]:
    return [{"dial": f"{slot_address(route.subnet, slot)}:{route.port}"} for slot in SLOTS]


def app_route(route: Route) -> Config:
    return {
        "match": [{"host": route.hosts}],
        "handle": [reverse_proxy(route)],
        "terminal": True,
    }


def active_health_check(route: Route) -> Config:
    active: Config = {"uri": route.health_path, "interval": HEALTH_INTERVAL, "timeout": HEALTH_TIMEOUT}
    if route.expect_status:
        active["expect_status"] = route.expect_status
    return active


def reverse_proxy(route: Route) -> Config:
    return {
        "handler": "reverse_proxy",
        "upstreams": upstreams(route),
        "health_checks": {
            "active": active_health_check(route),
            "passive": {"fail_duration": PASSIVE_FAIL_DURATION, "max_fails": PASSIVE_MAX_FAILS},
        },
        "load_balancing": {"try_duration": TRY_DURATION, "try_interval": TRY_INTERVAL},
        "transport": {"protocol": "http", "dial_timeout": DIAL_TIMEOUT},
    }


def platform_route(platform: PlatformRoute) -> Config:
    """The dashboard and its API at the platform's own hostname, proxied to the API on loopback."""
    return {
        "match": [{"host": [platform.hostname]}],
        "handle": [
            {
                "handler": "reverse_proxy",
                "upstreams": [{"dial": f"127.0.0.1:{platform.api_port}"}],
                # Server-Sent Events (logs, lifecycle) must reach the browser as they are written.
                "flush_interval": -1,
            }
        ],
        "terminal": True,
    }


def not_found_route() -> Config:
    """Catch-all after every app route: a host Berth does not know."""
    return html_response(404, pages.not_found_page())


def no_release_route(route: Route) -> Config:
    """For the app's host, a proxy error (no healthy slot) becomes Berth's 503 page."""
    statuses = ", ".join(str(s) for s in NO_UPSTREAM_STATUSES)
    return {
        "match": [
            {
                "host": route.hosts,
                "expression": f"{{http.error.status_code}} in [{statuses}]",
            }
        ],
        **html_response(503, pages.no_release_page(route.name)),
        "terminal": True,
    }


def html_response(status: int, body: str) -> Config:
    return {
        "handle": [
            {
                "handler": "static_response",
                "status_code": status,
                "headers": {
                    "Content-Type": ["text/html; charset=utf-8"],
                    "Cache-Control": ["no-store"],
                },
                "body": body,
            }
        ]
    }
