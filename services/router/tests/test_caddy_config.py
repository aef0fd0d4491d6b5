"""The pure Caddy config: what each app route, health check and Berth page looks like."""

from __future__ import annotations

import json
from typing import Any

from berth_router.caddy_config import AcmeIssuer, PlatformRoute, Route, TlsOptions, render

DEMO = Route(app_id="app1", name="demo", hostname="demo.berth.test", port=8080, subnet="10.240.0.16/28")
SHOP = Route(
    app_id="app2", name="shop", hostname="shop.berth.test", port=3000, subnet="10.240.0.32/28", health_path="/healthz"
)


def server(config: dict[str, Any]) -> dict[str, Any]:
    servers = config["apps"]["http"]["servers"]
    assert len(servers) == 1
    return next(iter(servers.values()))


def route_for(config: dict[str, Any], hostname: str) -> dict[str, Any]:
    matching = [r for r in server(config)["routes"] if r.get("match") == [{"host": [hostname]}]]
    assert len(matching) == 1
    return matching[0]


def proxy_for(config: dict[str, Any], hostname: str) -> dict[str, Any]:
    (handler,) = route_for(config, hostname)["handle"]
    assert handler["handler"] == "reverse_proxy"
    return handler


def test_admin_listens_only_on_a_private_unix_socket_so_a_resumed_config_keeps_it() -> None:
    config = render([], http_port=8081, admin_socket="/b/admin.sock")
    assert config["admin"] == {"listen": "unix//b/admin.sock|0600"}


def test_logs_at_warn() -> None:
    assert render([], http_port=80, admin_socket="/b/admin.sock")["logging"]["logs"]["default"]["level"] == "WARN"


def test_one_plain_http_server_on_the_http_port() -> None:
    s = server(render([DEMO], http_port=8081, admin_socket="/b/admin.sock"))
    assert s["listen"] == [":8081"]
    assert s["automatic_https"] == {"disable": True}


def test_the_live_slot_comes_from_the_routers_slot_dns_with_both_slots_as_the_fallback() -> None:
    config = render([DEMO, SHOP], http_port=80, admin_socket="/b/admin.sock", slot_dns_port=5353)
    proxy = proxy_for(config, "demo.berth.test")
    assert proxy["upstreams"] == [{"dial": "10.240.0.18:8080"}, {"dial": "10.240.0.19:8080"}]
    assert proxy["dynamic_upstreams"] == {
        "source": "a",
        "name": "app1.slot.berth.internal.",
        "port": "8080",
        "refresh": "100ms",
        "resolver": {"addresses": ["udp/127.0.0.1:5353"]},
        "dial_timeout": "1s",
        "versions": {"ipv4": True},
    }
    assert proxy_for(config, "shop.berth.test")["dynamic_upstreams"]["port"] == "3000"
    default = proxy_for(render([DEMO], http_port=80, admin_socket="/b/admin.sock"), "demo.berth.test")
    assert default["dynamic_upstreams"]["resolver"] == {"addresses": ["udp/127.0.0.1:2022"]}


def test_caddy_probes_no_app_only_passive_checks_watch_the_requests() -> None:
    proxy = proxy_for(render([SHOP], http_port=80, admin_socket="/b/admin.sock"), "shop.berth.test")
    assert proxy["health_checks"] == {"passive": {"fail_duration": "3s", "max_fails": 1}}


def test_requests_retry_across_slots_for_a_few_seconds_and_dial_fails_fast() -> None:
    proxy = proxy_for(render([DEMO], http_port=80, admin_socket="/b/admin.sock"), "demo.berth.test")
    assert proxy["load_balancing"] == {"try_duration": "5s", "try_interval": "100ms"}
    # Never an idle connection to a slot: a drained slot is left by new connections only.
    assert proxy["transport"] == {"protocol": "http", "dial_timeout": "1s", "keep_alive": {"enabled": False}}


def test_unknown_hosts_fall_through_to_berths_404_page() -> None:
    routes = server(render([DEMO, SHOP], http_port=80, admin_socket="/b/admin.sock"))["routes"]
    catch_all = routes[-1]
    assert "match" not in catch_all
    (handler,) = catch_all["handle"]
    assert handler["handler"] == "static_response"
    assert handler["status_code"] == 404
    assert handler["headers"]["Content-Type"] == ["text/html; charset=utf-8"]
    assert "No app here" in handler["body"]


def test_an_app_without_a_healthy_slot_gets_its_own_503_page() -> None:
    errors = server(render([DEMO, SHOP], http_port=80, admin_socket="/b/admin.sock"))["errors"]["routes"]
    assert len(errors) == 2
    by_host = {e["match"][0]["host"][0]: e for e in errors}
    demo = by_host["demo.berth.test"]
    assert demo["match"][0]["expression"] == "{http.error.status_code} in [502, 503]"
    (handler,) = demo["handle"]
    assert handler["status_code"] == 503
    assert "demo has no running release" in handler["body"]
    assert "shop" not in handler["body"]


def test_an_app_marked_as_without_web_instances_gets_its_503_page_before_any_proxying() -> None:
    config = render([DEMO, SHOP], http_port=80, admin_socket="/b/admin.sock", no_instance_dir="/home/router/none")
    (subroute,) = route_for(config, "demo.berth.test")["handle"]
    marked, proxied = subroute["routes"]
    assert marked["match"] == [{"file": {"root": "/home/router/none", "try_files": ["/app1"]}}]
    (page,) = marked["handle"]
    assert page["status_code"] == 503 and "demo has no web instance" in page["body"] and marked["terminal"]
    assert page["headers"]["X-Berth-Route"] == ["no-instance"]  # told apart in the app's proxy log
    assert proxied["handle"] == [proxy_for(render([DEMO], http_port=80, admin_socket="/b/admin.sock"), DEMO.hostname)]


def test_page_text_is_html_escaped() -> None:
    evil = Route(app_id="x", name="<b>x</b>", hostname="x.berth.test", port=80, subnet="10.240.0.0/28")
    (error_route,) = server(render([evil], http_port=80, admin_socket="/b/admin.sock"))["errors"]["routes"]
    assert "<b>" not in error_route["handle"][0]["body"]
    assert "&lt;b&gt;x&lt;/b&gt;" in error_route["handle"][0]["body"]


def test_rendering_is_deterministic_whatever_the_input_order() -> None:
    a = render([DEMO, SHOP], http_port=80, admin_socket="/b/admin.sock")
    b = render([SHOP, DEMO], http_port=80, admin_socket="/b/admin.sock")
    assert json.dumps(a) == json.dumps(b)
    hosts = [r["match"][0]["host"][0] for r in server(a)["routes"][:-1]]
    assert hosts == ["demo.berth.test", "shop.berth.test"]


def test_an_app_not_in_the_routes_has_no_route_or_error_page() -> None:
    config = render([SHOP], http_port=80, admin_socket="/b/admin.sock")
    assert "demo.berth.test" not in json.dumps(config)
    assert len(server(config)["routes"]) == 2


def test_no_apps_still_serves_the_404_page() -> None:
    s = server(render([], http_port=80, admin_socket="/b/admin.sock"))
    assert len(s["routes"]) == 1
    assert s["routes"][0]["handle"][0]["status_code"] == 404
    assert s["errors"] == {"routes": []}


def test_the_config_is_plain_json() -> None:
    config = render([DEMO, SHOP], http_port=80, admin_socket="/b/admin.sock")
    assert json.loads(json.dumps(config)) == config


def test_the_platforms_own_hostname_reaches_the_api_first() -> None:
    from berth_router.caddy_config import PlatformRoute

    config = render(
        [], http_port=80, admin_socket="/b/admin.sock", platform=PlatformRoute(hostname="example.com", api_port=8000)
    )
    routes = config["apps"]["http"]["servers"]["berth"]["routes"]
    assert routes[0]["match"] == [{"host": ["example.com"]}]
    handler = platform_step(routes[0], "reverse_proxy")["handle"][0]
    assert handler["upstreams"] == [{"dial": "127.0.0.1:8000"}] and handler["flush_interval"] == -1
    assert routes[-1]["handle"][0]["status_code"] == 404


def test_an_apps_domains_share_its_one_route_and_its_503_page() -> None:
    shop = Route(**{**SHOP.__dict__, "domains": ("www.shop.example", "shop.example")})
    config = render([shop, DEMO], http_port=80, admin_socket="/b/admin.sock")
    hosts = ["shop.berth.test", "shop.example", "www.shop.example"]
    app_routes = [r for r in server(config)["routes"] if r.get("match") and "shop" in str(r["match"])]
    assert [r["match"] for r in app_routes] == [[{"host": hosts}]]
    errors = [e for e in server(config)["errors"]["routes"] if "shop" in str(e["match"])]
    assert [e["match"][0]["host"] for e in errors] == [hosts]


def test_domains_change_the_config_and_nothing_else_does() -> None:
    base = render([SHOP], http_port=80, admin_socket="/b/admin.sock")
    assert render([SHOP], http_port=80, admin_socket="/b/admin.sock") == base
    with_domain = Route(**{**SHOP.__dict__, "domains": ("shop.example",)})
    assert render([with_domain], http_port=80, admin_socket="/b/admin.sock") != base


def test_without_an_https_port_there_is_no_tls() -> None:
    config = render([DEMO], http_port=80, admin_socket="/b/admin.sock")
    assert set(config["apps"]) == {"http"}


TLS = TlsOptions(https_port=8443, ask_port=2020)


def test_the_https_server_serves_the_same_routes_with_internal_certificates_for_local_names() -> None:
    shop = Route(**{**SHOP.__dict__, "domains": ("www.shop.example", "shop.localhost")})
    config = render(
        [shop, DEMO], http_port=8081, admin_socket="/b/admin.sock", tls=TLS, platform=PlatformRoute("berth.test", 8000)
    )
    servers = config["apps"]["http"]["servers"]
    assert set(servers) == {"berth", "berth_tls"}
    plain, tls = servers["berth"], servers["berth_tls"]
    assert tls["listen"] == [":8443"]
    # Over HTTP the verification path comes first; then the same routes as over HTTPS (a local
    # platform hostname is served over both).
    assert plain["routes"][1:] == tls["routes"] and tls["errors"] == plain["errors"]
    assert tls["tls_connection_policies"] == [{}]
    # A public name is never managed up front: only on demand once the ask endpoint approves it.
    assert tls["automatic_https"] == {"disable_redirects": True, "skip_certificates": ["www.shop.example"]}
    assert (config["apps"]["http"]["http_port"], config["apps"]["http"]["https_port"]) == (8081, 8443)
    internal, on_demand = config["apps"]["tls"]["automation"]["policies"]
    assert on_demand["on_demand"] is True
    assert internal == {
        "subjects": ["berth.test", "demo.berth.test", "shop.berth.test", "shop.localhost"],
        "issuers": [{"module": "internal"}],
    }
    assert config["apps"]["pki"]["certificate_authorities"]["local"]["install_trust"] is False


def test_public_names_get_acme_certificates_on_demand_only_with_the_routers_permission() -> None:
    acme = AcmeIssuer(ca="https://127.0.0.1:14000/dir", trusted_roots=("/ca.pem",), email="me@example.org")
    config = render(
        [SHOP], http_port=80, admin_socket="/b/admin.sock", tls=TlsOptions(https_port=443, ask_port=2020, acme=acme)
    )
    automation = config["apps"]["tls"]["automation"]
    assert automation["on_demand"] == {"permission": {"module": "http", "endpoint": "http://127.0.0.1:2020/ask"}}
    on_demand = automation["policies"][-1]
    assert "subjects" not in on_demand and on_demand["on_demand"] is True
    assert on_demand["issuers"] == [
        {"module": "acme", "ca": acme.ca, "trusted_roots_pem_files": ["/ca.pem"], "email": "me@example.org"}
    ]
    # Without settings: Caddy's default ACME CA.
    default = render([SHOP], http_port=80, admin_socket="/b/admin.sock", tls=TlsOptions(https_port=443, ask_port=2020))
    assert default["apps"]["tls"]["automation"]["policies"][-1]["issuers"] == [{"module": "acme"}]


def test_berth_tls_internal_gives_every_name_an_internal_certificate_and_never_asks_a_public_ca() -> None:
    shop = Route(**{**SHOP.__dict__, "domains": ("www.shop.example",)})
    config = render([shop], http_port=80, admin_socket="/b/admin.sock", tls=TlsOptions(443, 2020, internal_all=True))
    assert config["apps"]["http"]["servers"]["berth_tls"]["automatic_https"] == {"disable_redirects": True}
    (policy,) = config["apps"]["tls"]["automation"]["policies"]
    assert policy["subjects"] == ["shop.berth.test", "www.shop.example"]
    assert "on_demand" not in config["apps"]["tls"]["automation"]


def test_no_names_means_no_internal_policy_only_the_on_demand_one() -> None:
    config = render([], http_port=80, admin_socket="/b/admin.sock", tls=TLS)
    (policy,) = config["apps"]["tls"]["automation"]["policies"]
    assert "subjects" not in policy and policy["on_demand"] is True


def test_names_holding_a_public_certificate_redirect_to_https_except_acme_challenges() -> None:
    shop = Route(**{**SHOP.__dict__, "domains": ("shop.example",)})
    before = render([shop], http_port=80, admin_socket="/b/admin.sock", tls=TLS)
    after = render([shop], http_port=80, admin_socket="/b/admin.sock", tls=TLS, secure_hosts={"shop.example"})
    plain = after["apps"]["http"]["servers"]["berth"]["routes"]
    verify, redirect = plain[0], plain[1]
    assert verify["match"] == [{"path": ["/.well-known/berth-verify"]}]
    assert verify["handle"][0]["upstreams"] == [{"dial": "127.0.0.1:2020"}]
    assert redirect["match"] == [{"host": ["shop.example"], "not": [{"path": ["/.well-known/acme-challenge/*"]}]}]
    (handler,) = redirect["handle"]
    assert handler["status_code"] == 308
    assert handler["headers"]["Location"] == ["https://{http.request.host}:8443{http.request.uri}"]
    assert plain[2:] == before["apps"]["http"]["servers"]["berth"]["routes"][1:]
    # The HTTPS server never redirects.
    assert after["apps"]["http"]["servers"]["berth_tls"] == before["apps"]["http"]["servers"]["berth_tls"]
    on_443 = render(
        [shop], http_port=80, admin_socket="/b/admin.sock", tls=TlsOptions(443, 2020), secure_hosts={"shop.example"}
    )
    location = on_443["apps"]["http"]["servers"]["berth"]["routes"][1]["handle"][0]["headers"]["Location"]
    assert location == ["https://{http.request.host}{http.request.uri}"]


def test_with_a_log_port_caddy_sends_tls_logs_and_failed_requests_to_the_router() -> None:
    config = render([SHOP], http_port=80, admin_socket="/b/admin.sock", tls=TLS, log_port=2021)
    logs = config["logging"]["logs"]
    assert logs["default"] == {"level": "WARN", "exclude": ["http.log.access"]}
    sink = {"output": "net", "address": "tcp/127.0.0.1:2021", "soft_start": True}
    assert logs["berth_tls"]["writer"] == sink and logs["berth_access"]["writer"] == sink
    assert logs["berth_tls"]["include"] == ["tls.obtain", "tls.on_demand", "http.acme_client"]
    # Only failed requests: the access log writes 4xx/5xx at ERROR.
    assert (logs["berth_access"]["level"], logs["berth_access"]["include"]) == ("ERROR", ["http.log.access"])
    for server in config["apps"]["http"]["servers"].values():
        assert server["logs"] == {}


# -- the platform's own hostname ---------------------------------------------------------------

PUBLIC = PlatformRoute(
    hostname="berth.example.com",
    api_port=8000,
    proxy_secret="s3cret",
    app_networks=("10.240.0.0/16", "172.17.0.0/16"),
)


def platform_steps(route: dict[str, Any]) -> list[dict[str, Any]]:
    (subroute,) = route["handle"]
    assert subroute["handler"] == "subroute"
    return list(subroute["routes"])


def platform_step(route: dict[str, Any], handler: str) -> dict[str, Any]:
    return next(s for s in platform_steps(route) if s["handle"][0]["handler"] == handler)


def platform_routes(config: dict[str, Any], server_name: str) -> dict[str, Any]:
    routes = config["apps"]["http"]["servers"][server_name]["routes"]
    return next(r for r in routes if r.get("match") == [{"host": [PUBLIC.hostname]}])


def test_a_public_platform_hostname_redirects_http_to_https_except_acme_challenges() -> None:
    config = render([SHOP], http_port=80, admin_socket="/b/admin.sock", platform=PUBLIC, tls=TlsOptions(443, 2020))
    plain = platform_steps(platform_routes(config, "berth"))
    redirect = next(s for s in plain if s["handle"][0].get("status_code") == 308)
    assert redirect["match"] == [{"host": [PUBLIC.hostname], "not": [{"path": ["/.well-known/acme-challenge/*"]}]}]
    assert redirect["handle"][0]["headers"]["Location"] == ["https://{http.request.host}{http.request.uri}"]
    # Only the refusal of app networks comes before the redirect.
    assert plain.index(redirect) == 1
    # Over HTTPS: no redirect, and HSTS without includeSubDomains (apps choose for themselves).
    tls = platform_routes(config, "berth_tls")
    assert all(s["handle"][0].get("status_code") != 308 for s in platform_steps(tls))
    proxy = platform_step(tls, "reverse_proxy")["handle"][0]
    assert proxy["headers"]["response"] == {"set": {"Strict-Transport-Security": ["max-age=31536000"]}}
    # An app's own hostname is untouched: no HSTS, no redirect.
    assert "headers" not in proxy_for_tls(config, "shop.berth.test")


def proxy_for_tls(config: dict[str, Any], hostname: str) -> dict[str, Any]:
    routes = config["apps"]["http"]["servers"]["berth_tls"]["routes"]
    (route,) = [r for r in routes if r.get("match") == [{"host": [hostname]}]]
    return dict(route["handle"][0])


def test_local_platform_hostnames_keep_plain_http_without_hsts() -> None:
    for hostname, tls in [
        ("berth.test", TlsOptions(443, 2020)),
        ("localhost", TlsOptions(443, 2020)),
        ("my.localhost", TlsOptions(443, 2020)),
        ("203.0.113.7", TlsOptions(443, 2020)),
        ("berth.example.com", TlsOptions(443, 2020, internal_all=True)),
        ("berth.example.com", None),
    ]:
        platform = PlatformRoute(hostname=hostname, api_port=8000)
        config = render([], http_port=80, admin_socket="/b/admin.sock", platform=platform, tls=tls)
        for server_name, server_config in config["apps"]["http"]["servers"].items():
            own = next(r for r in server_config["routes"] if r.get("match") == [{"host": [hostname]}])
            steps = platform_steps(own)
            assert all(s["handle"][0].get("status_code") != 308 for s in steps), (hostname, server_name)
            assert "headers" not in platform_step(own, "reverse_proxy")["handle"][0], (hostname, server_name)


def test_app_networks_are_refused_on_the_platform_hostname_by_their_tcp_peer_address() -> None:
    config = render([], http_port=80, admin_socket="/b/admin.sock", platform=PUBLIC, tls=TlsOptions(443, 2020))
    for server_name in ("berth", "berth_tls"):
        first = platform_steps(platform_routes(config, server_name))[0]
        assert first["match"] == [{"remote_ip": {"ranges": ["10.240.0.0/16", "172.17.0.0/16"]}}]
        assert first["handle"][0]["status_code"] == 403 and first["terminal"] is True


def test_caddy_names_itself_to_the_api_with_the_proxy_secret_replacing_any_clients_header() -> None:
    config = render([], http_port=80, admin_socket="/b/admin.sock", platform=PUBLIC)
    proxy = platform_step(platform_routes(config, "berth"), "reverse_proxy")["handle"][0]
    assert proxy["headers"]["request"] == {"set": {"X-Berth-Proxy": ["s3cret"]}}
    # X-Forwarded-For/-Proto are Caddy's own (it trusts no incoming forwarded header): not overridden.
    assert "X-Forwarded-For" not in str(proxy)


def test_bodies_on_the_platform_route_are_capped_with_the_build_limit_for_build_uploads() -> None:
    from berth_shared.contracts.builds import MAX_CONTEXT_BYTES

    config = render([], http_port=80, admin_socket="/b/admin.sock", platform=PUBLIC)
    steps = platform_steps(platform_routes(config, "berth"))
    limits = [s for s in steps if s["handle"][0]["handler"] == "request_body"]
    assert [(s["match"], s["handle"][0]["max_size"]) for s in limits] == [
        ([{"path": ["/api/apps/*/builds"]}], MAX_CONTEXT_BYTES),
        ([{"not": [{"path": ["/api/apps/*/builds"]}]}], 1024 * 1024),
    ]
    # Both come before the proxy.
    proxy = platform_step(platform_routes(config, "berth"), "reverse_proxy")
    assert all(steps.index(s) < steps.index(proxy) for s in limits)


def test_the_api_docs_are_never_served_on_the_platform_hostname() -> None:
    config = render([], http_port=80, admin_socket="/b/admin.sock", platform=PUBLIC)
    steps = platform_steps(platform_routes(config, "berth"))
    docs = next(s for s in steps if s.get("match") and "path" in s["match"][0] and "/api/docs" in s["match"][0]["path"])
    assert docs["handle"][0]["status_code"] == 404 and docs["terminal"] is True
    assert steps.index(docs) < steps.index(platform_step(platform_routes(config, "berth"), "reverse_proxy"))


def test_with_the_public_dashboard_off_only_self_authenticating_paths_reach_the_api() -> None:
    off = PlatformRoute(**{**PUBLIC.__dict__, "dashboard": False})
    steps = platform_steps(
        platform_routes(render([], http_port=80, admin_socket="/b/admin.sock", platform=off), "berth")
    )
    closed = next(s for s in steps if "dashboard is not served" in s["handle"][0].get("body", ""))
    # None declared today: everything is closed (no matcher at all).
    assert "match" not in closed and closed["handle"][0]["status_code"] == 404
    hook = PlatformRoute(**{**off.__dict__, "self_authenticating": ("/hooks/*",)})
    steps = platform_steps(
        platform_routes(render([], http_port=80, admin_socket="/b/admin.sock", platform=hook), "berth")
    )
    closed = next(s for s in steps if "dashboard is not served" in s["handle"][0].get("body", ""))
    assert closed["match"] == [{"not": [{"path": ["/hooks/*"]}]}]
    # On by default: nothing closed.
    steps = platform_steps(
        platform_routes(render([], http_port=80, admin_socket="/b/admin.sock", platform=PUBLIC), "berth")
    )
    assert not any("dashboard is not served" in s["handle"][0].get("body", "") for s in steps)
