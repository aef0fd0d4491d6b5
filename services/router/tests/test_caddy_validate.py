"""Caddy's own verdict on a config, without touching the running Caddy."""

from __future__ import annotations

from berth_router import caddy_validate
from berth_router.caddy_config import PlatformRoute, Route, TlsOptions, render
from berth_router.caddy_validate import refusal_of, validation_config

GOOD = Route(app_id="a", name="a", hostname="a.berth.test", port=8080, subnet="10.240.0.16/28")
# Punycode that is no IDNA label: a host name by the router's rule, refused by Caddy's host matcher.
BAD = Route(app_id="b", name="b", hostname="xn--zz.berth.test", port=8080, subnet="10.240.0.32/28")


def config(*routes: Route) -> dict[str, object]:
    return render(
        list(routes),
        http_port=8081,
        admin_socket="/nonexistent/admin.sock",
        platform=PlatformRoute("berth.example.com", 8000, proxy_secret="s", app_networks=("10.240.0.0/16",)),
        tls=TlsOptions(8443, 2020),
        log_port=2021,
    )


async def test_caddy_accepts_the_platform_and_a_good_app_and_names_what_it_refuses() -> None:
    assert await caddy_validate.refusal(config(GOOD)) is None
    reason = await caddy_validate.refusal(config(GOOD, BAD))
    assert reason is not None and 'idna: invalid label "zz"' in reason


def test_a_dry_run_has_no_admin_endpoint_and_no_log_sink() -> None:
    dry = validation_config(config(GOOD))
    assert dry["admin"] == {"disabled": True}
    assert "net" not in str(dry["logging"])
    assert dry["apps"] == config(GOOD)["apps"]


def test_the_reason_is_caddys_last_error_line() -> None:
    stderr = (
        '{"level":"info","msg":"using config from file"}\n'
        '{"level":"error","ts":1,"msg":"loading http app module: route 1: bad escape"}\n'
    )
    assert refusal_of(stderr) == "loading http app module: route 1: bad escape"
    assert refusal_of("Error: something plain\n") == "Error: something plain"
