"""The whole Caddy JSON config, rendered from the routes table by one pure function.

Every app gets one route whose upstream is its live slot, looked up in the router's slot DNS
(``dynamic a``, refreshed at most every ``UPSTREAM_REFRESH_SECONDS`` and only while requests need
it), with both of its blue/green slots listed as the fallback for a lookup that fails, passive
health checks and a retry window (design §5, ADR 0025). Caddy probes nothing itself. A deploy
flips slots underneath and never changes this config, so Caddy is reloaded only when apps,
ports or hosts change.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from berth_shared.contracts.builds import MAX_CONTEXT_BYTES
from berth_shared.contracts.domains import is_local_name
from berth_shared.netplan import SLOTS, slot_address
from berth_shared.proxy_timing import UPSTREAM_REFRESH_SECONDS
from berth_shared.settings import DEFAULT_SLOT_DNS_PORT

from berth_router import pages
from berth_router.proxy_logs import NO_INSTANCE, ROUTE_HEADER
from berth_router.slot_answers import slot_name

SERVER_NAME = "berth"
TLS_SERVER_NAME = "berth_tls"
# Where Caddy's ACME HTTP-01 challenges arrive: never redirected to HTTPS.
ACME_CHALLENGE_PATH = "/.well-known/acme-challenge/*"
# The router's answer to "does this hostname reach this host?" (see berth_router.verify).
VERIFY_PATH = "/.well-known/berth-verify"
# Caddy's loggers whose lines the router turns into per-app proxy logs and TLS states.
TLS_LOGGERS = ("tls.obtain", "tls.on_demand", "http.acme_client")
ACCESS_LOGGER = "http.log.access"

UPSTREAM_REFRESH = f"{round(UPSTREAM_REFRESH_SECONDS * 1000)}ms"
# The slot DNS answers on loopback in well under a millisecond; the dial of a UDP socket is local.
SLOT_DNS_DIAL_TIMEOUT = "1s"
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
    # The app's health check (path; expected status: 0 = any 2xx/3xx, 1-5 = that class, 100-599 =
    # that code), as the app's events carry them. Caddy no longer probes (ADR 0025): these are
    # kept with the route but not rendered.
    health_path: str = "/"
    expect_status: int = 0
    # Custom hostnames attached to the app: served by the same route, from the same slots.
    domains: tuple[str, ...] = ()

    @property
    def hosts(self) -> list[str]:
        """Every hostname the app answers: its generated one first, then its domains in order."""
        return [self.hostname, *sorted(set(self.domains) - {self.hostname})]


@dataclass(frozen=True)
class AcmeIssuer:
    """The ACME CA public names are certified by (default: Caddy's default, Let's Encrypt)."""

    ca: str | None = None
    # PEM files to trust for the CA's own HTTPS endpoint (a private or test CA).
    trusted_roots: tuple[str, ...] = ()
    email: str | None = None


@dataclass(frozen=True)
class TlsOptions:
    """How the HTTPS server gets its certificates."""

    https_port: int
    # The router's loopback ``ask`` endpoint: Caddy asks it before obtaining any public certificate.
    ask_port: int
    # BERTH_TLS=internal: every name is certified by Caddy's internal CA (no public CA at all).
    internal_all: bool = False
    acme: AcmeIssuer = field(default_factory=AcmeIssuer)


# Paths on the platform hostname that authenticate each request themselves (a provider's
# signature, a Git client's credentials, a host's join token): reachable even with
# BERTH_PUBLIC_DASHBOARD=false. None yet; later features add theirs here.
SELF_AUTHENTICATING_PATHS: tuple[str, ...] = ()
# Never served on the platform hostname: the interactive API docs (they load third-party
# JavaScript onto the admin origin). The schema stays reachable, behind the API's token check.
PRIVATE_PATHS = ("/api/docs", "/api/docs/*", "/api/redoc", "/api/redoc/*")
# Request bodies through the platform route: 1 MiB, except build uploads (their own limit).
MAX_BODY_BYTES = 1024 * 1024
BUILD_UPLOAD_PATH = "/api/apps/*/builds"
# The header Caddy sets (overwriting any client's) on what it forwards to the API: only a
# request carrying the secret may name its client in X-Forwarded-For.
PROXY_SECRET_HEADER = "X-Berth-Proxy"
# HTTPS-only public platform hostname: browsers remember it for a year. No includeSubDomains:
# apps under the platform's domain choose for themselves.
HSTS = "max-age=31536000"


@dataclass(frozen=True)
class PlatformRoute:
    """The platform's own hostname (``BERTH_DOMAIN``): the dashboard and API behind the proxy."""

    hostname: str
    api_port: int
    # Sent to the API in ``X-Berth-Proxy`` (empty: no header, the API trusts no forwarded address).
    proxy_secret: str = ""
    # Networks apps (and builds) run on: refused on the platform hostname (the TCP peer decides).
    app_networks: tuple[str, ...] = ()
    # BERTH_PUBLIC_DASHBOARD: the dashboard and admin API on the platform hostname.
    dashboard: bool = True
    self_authenticating: tuple[str, ...] = SELF_AUTHENTICATING_PATHS


def render(
    routes: Iterable[Route],
    *,
    http_port: int,
    admin_socket: str,
    platform: PlatformRoute | None = None,
    tls: TlsOptions | None = None,
    log_port: int | None = None,
    secure_hosts: Iterable[str] = (),
    slot_dns_port: int = DEFAULT_SLOT_DNS_PORT,
    no_instance_dir: str | None = None,
) -> Config:
    """The full config Caddy should run: equal inputs (in any order) give equal output.

    With ``tls``, a second server serves the same routes over HTTPS. Local names get their
    certificates from Caddy's internal CA up front; public names only on demand, when a
    visitor's handshake arrives and the router's ``ask`` endpoint approves the name (it approves
    attached names only once verified). ``secure_hosts`` (public names holding a certificate)
    are redirected from HTTP to HTTPS, ACME challenges excepted. With ``log_port``, Caddy sends
    its TLS logs and its access log of failed requests to the router there. Caddy's admin API
    listens only on the Unix socket ``admin_socket`` (mode 0600: the launcher's user alone).
    Each app's live slot is looked up in the router's slot DNS on ``127.0.0.1:slot_dns_port``.
    """
    ordered = sorted(routes, key=lambda r: (r.hostname, r.app_id))
    app_routes = [*(app_route(r, slot_dns_port, no_instance_dir) for r in ordered), not_found_route()]
    errors_json = {"routes": [no_release_route(r) for r in ordered]}
    own_plain = [platform_route(platform, https_port=None)] if platform is not None else []
    if platform is not None and is_public_platform(platform, tls) and tls is not None:
        own_plain = [platform_route(platform, https_port=tls.https_port)]
    own_tls = [platform_route(platform, https_port=None, hsts=is_public_platform(platform, tls))] if platform else []
    routes_json = [*own_tls, *app_routes]
    http_routes = [*own_plain, *app_routes]
    if tls is not None:
        redirected = sorted(set(secure_hosts))
        verify = [verify_route(tls.ask_port)]
        http_routes = [
            *verify,
            *([https_redirect_route(redirected, tls.https_port)] if redirected else []),
            *http_routes,
        ]
    servers: Config = {
        SERVER_NAME: {
            "listen": [f":{http_port}"],
            "automatic_https": {"disable": True},
            "routes": http_routes,
            "errors": errors_json,
        }
    }
    config: Config = {
        "admin": {"listen": admin_listen(admin_socket)},
        "logging": logging_config(log_port),
        "apps": {"http": {"servers": servers}},
    }
    if log_port is not None:
        servers[SERVER_NAME]["logs"] = {}
    if tls is None:
        return config
    hosts = sorted({h for r in ordered for h in r.hosts} | ({platform.hostname} if platform else set()))
    internal = [h for h in hosts if tls.internal_all or is_local_name(h)]
    public = [h for h in hosts if h not in internal]
    # Public names are never managed up front: only on demand, after the ask endpoint approves.
    automatic: Config = {"disable_redirects": True}
    if public:
        automatic["skip_certificates"] = public
    servers[TLS_SERVER_NAME] = {
        "listen": [f":{tls.https_port}"],
        "automatic_https": automatic,
        "tls_connection_policies": [{}],
        "routes": routes_json,
        "errors": errors_json,
    }
    if log_port is not None:
        servers[TLS_SERVER_NAME]["logs"] = {}
    config["apps"]["http"]["http_port"] = http_port
    config["apps"]["http"]["https_port"] = tls.https_port
    config["apps"]["tls"] = {"automation": tls_automation(internal, tls)}
    # Never touch the system's trust store: Berth runs unprivileged.
    config["apps"]["pki"] = {"certificate_authorities": {"local": {"install_trust": False}}}
    return config


def admin_listen(socket_path: str) -> str:
    """Caddy's admin address: a Unix socket created with mode 0600 (no TCP port at all)."""
    return f"unix/{socket_path}|0600"


def is_public_platform(platform: PlatformRoute | None, tls: TlsOptions | None) -> bool:
    """A platform hostname served over HTTPS only: a public name with a public certificate
    (not ``localhost``/``*.test``/an IP address, nor certified by the internal CA)."""
    if platform is None or tls is None or tls.internal_all or is_local_name(platform.hostname):
        return False
    try:
        ipaddress.ip_address(platform.hostname.strip("[]"))
    except ValueError:
        return True
    return False


def tls_automation(internal: list[str], tls: TlsOptions) -> Config:
    """Internal CA for the local names (a policy without subjects would match every name, so it
    is listed only when there are some); the catch-all on-demand ACME policy otherwise."""
    policies: list[Config] = [{"subjects": internal, "issuers": [{"module": "internal"}]}] if internal else []
    automation: Config = {"policies": policies}
    if tls.internal_all:
        return automation
    policies.append({"issuers": [acme_issuer(tls.acme)], "on_demand": True})
    automation["on_demand"] = {
        "permission": {"module": "http", "endpoint": f"http://127.0.0.1:{tls.ask_port}/ask"},
    }
    return automation


def acme_issuer(acme: AcmeIssuer) -> Config:
    issuer: Config = {"module": "acme"}
    if acme.ca:
        issuer["ca"] = acme.ca
    if acme.trusted_roots:
        issuer["trusted_roots_pem_files"] = list(acme.trusted_roots)
    if acme.email:
        issuer["email"] = acme.email
    return issuer


def logging_config(log_port: int | None) -> Config:
    """Caddy's own log stays on stderr at WARN; with ``log_port`` two more logs go to the router:
    TLS progress and errors (INFO), and the access log of failed requests only (ERROR = 4xx/5xx)."""
    if log_port is None:
        return {"logs": {"default": {"level": "WARN"}}}
    sink = {"output": "net", "address": f"tcp/127.0.0.1:{log_port}", "soft_start": True}
    return {
        "logs": {
            "default": {"level": "WARN", "exclude": [ACCESS_LOGGER]},
            "berth_tls": {"writer": sink, "encoder": {"format": "json"}, "level": "INFO", "include": list(TLS_LOGGERS)},
            "berth_access": {
                "writer": sink,
                "encoder": {"format": "json"},
                "level": "ERROR",
                "include": [ACCESS_LOGGER],
            },
        }
    }


def verify_route(ask_port: int) -> Config:
    """``/.well-known/berth-verify`` on any host over HTTP reaches the router, which answers with
    its token for that host: the router fetching it through the hostname proves the name leads here."""
    return {
        "match": [{"path": [VERIFY_PATH]}],
        "handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": f"127.0.0.1:{ask_port}"}]}],
        "terminal": True,
    }


def https_redirect_route(hosts: list[str], https_port: int) -> Config:
    port = "" if https_port == 443 else f":{https_port}"
    return {
        "match": [{"host": hosts, "not": [{"path": [ACME_CHALLENGE_PATH]}]}],
        "handle": [
            {
                "handler": "static_response",
                "status_code": 308,
                "headers": {"Location": [f"https://{{http.request.host}}{port}{{http.request.uri}}"]},
            }
        ],
        "terminal": True,
    }


def upstreams(route: Route) -> list[dict[str, str]]:
    return [{"dial": f"{slot_address(route.subnet, slot)}:{route.port}"} for slot in SLOTS]


def app_route(route: Route, slot_dns_port: int = DEFAULT_SLOT_DNS_PORT, no_instance_dir: str | None = None) -> Config:
    """The app's hosts proxied to its live slot. With ``no_instance_dir``, an app marked there as
    having no web instance (``berth_router.no_instance_marks``: a file named by its id, looked
    at on each request) gets its 503 page at once instead of the retry window on dead addresses."""
    proxy = reverse_proxy(route, slot_dns_port)
    if no_instance_dir is None:
        return {"match": [{"host": route.hosts}], "handle": [proxy], "terminal": True}
    marked = {"file": {"root": no_instance_dir, "try_files": [f"/{route.app_id}"]}}
    page = html_response(503, pages.no_instance_page(route.name))
    page["handle"][0]["headers"][ROUTE_HEADER] = [NO_INSTANCE]  # its proxy log line says why
    return {
        "match": [{"host": route.hosts}],
        "handle": [
            {
                "handler": "subroute",
                "routes": [
                    {"match": [marked], **page, "terminal": True},
                    {"handle": [proxy]},
                ],
            }
        ],
        "terminal": True,
    }


def live_slot_upstream(route: Route, slot_dns_port: int) -> Config:
    """The app's live slot, looked up as an A record in the router's slot DNS. ``dynamic a`` has
    no grace period: a lookup that fails (the router down) falls back to the static list."""
    return {
        "source": "a",
        "name": slot_name(route.app_id),
        "port": str(route.port),
        "refresh": UPSTREAM_REFRESH,
        "resolver": {"addresses": [f"udp/127.0.0.1:{slot_dns_port}"]},
        "dial_timeout": SLOT_DNS_DIAL_TIMEOUT,
        "versions": {"ipv4": True},
    }


def reverse_proxy(route: Route, slot_dns_port: int = DEFAULT_SLOT_DNS_PORT) -> Config:
    return {
        "handler": "reverse_proxy",
        # Both slots: where requests go when the slot DNS does not answer (the router restarting),
        # the passive checks and retries picking the slot that serves. Listing them also keeps
        # each slot's passive health state between requests (Caddy shares it by address).
        "upstreams": upstreams(route),
        # The live slot, from the router's slot DNS: no probes of its own (ADR 0025).
        "dynamic_upstreams": live_slot_upstream(route, slot_dns_port),
        "health_checks": {
            "passive": {"fail_duration": PASSIVE_FAIL_DURATION, "max_fails": PASSIVE_MAX_FAILS},
        },
        "load_balancing": {"try_duration": TRY_DURATION, "try_interval": TRY_INTERVAL},
        # No idle connections to the slots: a slot being drained must be left by every request,
        # and only new connections can be turned away. A reused connection would carry a request
        # into a slot that closes it on SIGTERM, and a POST failed that way cannot be retried
        # (measured: 4 of 20,618 POSTs to a keep-alive app failed). It also makes every open
        # connection to a slot a request in flight, which is how the agent knows a drain is over.
        # A new connection on the slot's bridge costs ~0.1 ms.
        "transport": {"protocol": "http", "dial_timeout": DIAL_TIMEOUT, "keep_alive": {"enabled": False}},
    }


def platform_route(platform: PlatformRoute, *, https_port: int | None, hsts: bool = False) -> Config:
    """The dashboard and its API at the platform's own hostname, proxied to the API on loopback.

    In order: app networks are refused (403); with ``https_port`` (a public name over HTTP)
    everything else but ACME challenges is redirected to HTTPS; the API docs are never served;
    with the dashboard off only the self-authenticating paths pass; bodies are capped.
    """
    steps: list[Config] = []
    if platform.app_networks:
        steps.append(
            {
                "match": [{"remote_ip": {"ranges": list(platform.app_networks)}}],
                **text_response(403, "Forbidden: the platform is not reachable from app networks\n"),
            }
        )
    if https_port is not None:
        steps.append(https_redirect_route([platform.hostname], https_port))
    steps.append({"match": [{"path": list(PRIVATE_PATHS)}], **text_response(404, "Not found\n")})
    if not platform.dashboard:
        allowed = list(platform.self_authenticating)
        steps.append(
            {
                **({"match": [{"not": [{"path": allowed}]}]} if allowed else {}),
                **text_response(404, "Not found: the dashboard is not served on this hostname\n"),
            }
        )
    steps.append({"match": [{"path": [BUILD_UPLOAD_PATH]}], "handle": [body_limit(MAX_CONTEXT_BYTES)]})
    steps.append({"match": [{"not": [{"path": [BUILD_UPLOAD_PATH]}]}], "handle": [body_limit(MAX_BODY_BYTES)]})
    steps.append({"handle": [platform_proxy(platform, hsts=hsts)]})
    return {
        "match": [{"host": [platform.hostname]}],
        "handle": [{"handler": "subroute", "routes": steps}],
        "terminal": True,
    }


def body_limit(max_bytes: int) -> Config:
    return {"handler": "request_body", "max_size": max_bytes}


def platform_proxy(platform: PlatformRoute, *, hsts: bool) -> Config:
    proxy: Config = {
        "handler": "reverse_proxy",
        "upstreams": [{"dial": f"127.0.0.1:{platform.api_port}"}],
        # Server-Sent Events (logs, lifecycle) must reach the browser as they are written.
        "flush_interval": -1,
    }
    headers: Config = {}
    if platform.proxy_secret:
        # ``set`` replaces whatever a client sent. Caddy itself writes X-Forwarded-For (the TCP
        # peer: it trusts no incoming forwarded header) and X-Forwarded-Proto.
        headers["request"] = {"set": {PROXY_SECRET_HEADER: [platform.proxy_secret]}}
    if hsts:
        headers["response"] = {"set": {"Strict-Transport-Security": [HSTS]}}
    if headers:
        proxy["headers"] = headers
    return proxy


def text_response(status: int, body: str) -> Config:
    return {
        "handle": [
            {
                "handler": "static_response",
                "status_code": status,
                "headers": {"Content-Type": ["text/plain; charset=utf-8"], "Cache-Control": ["no-store"]},
                "body": body,
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
