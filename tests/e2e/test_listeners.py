"""What `berth up` listens on, read from the kernel for IPv4 and IPv6 alike: only the proxy's
public HTTP and HTTPS ports are open beyond loopback; the API, Postgres, NATS and the router's
own ports answer on loopback only, and Caddy's admin API is no TCP port at all."""

from __future__ import annotations

import contextlib
import ipaddress
from typing import Any

import psutil
import pytest
from berth_testing import RunningPlatform

pytestmark = pytest.mark.e2e


def listeners(p: RunningPlatform) -> dict[tuple[str, int], str]:
    """Every TCP listening socket (tcp and tcp6) of the processes `berth up` runs: address and
    port -> the process's command line."""
    found: dict[tuple[str, int], str] = {}
    for proc in [psutil.Process(p.proc.pid), *psutil.Process(p.proc.pid).children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            command = " ".join(proc.cmdline())
            for conn in proc.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN:
                    found[(conn.laddr.ip, conn.laddr.port)] = command
    return found


def loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", maxsplit=1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def ports(found: dict[tuple[str, int], str], word: str) -> set[int]:
    return {port for (_, port), command in found.items() if word in command}


def test_only_the_proxys_public_ports_listen_beyond_loopback(platform: RunningPlatform) -> None:
    env: dict[str, Any] = platform.env
    public = {int(env["BERTH_HTTP_PORT"]), int(env["BERTH_HTTPS_PORT"])}
    found = listeners(platform)

    # The control plane is there, each on its own port, and on loopback only (v4 and v6).
    assert int(env["BERTH_API_PORT"]) in ports(found, "berth_api"), found
    assert int(env["BERTH_PG_PORT"]) in ports(found, "postgres"), found
    assert int(env["BERTH_NATS_PORT"]) in ports(found, "nats-server"), found
    assert {int(env["BERTH_TLS_ASK_PORT"]), int(env["BERTH_PROXY_LOG_PORT"])} <= ports(found, "berth_router"), found
    exposed = {(address, port): command for (address, port), command in found.items() if not loopback(address)}
    assert {port for _, port in exposed} == public, exposed

    # The proxy's public ports are Caddy's, on every address; Caddy has no admin TCP port.
    assert {port for (_, port), command in exposed.items() if "caddy" in command} == public
    assert all(ipaddress.ip_address(address).is_unspecified for address, _ in exposed), exposed
    assert int(env["BERTH_CADDY_ADMIN_PORT"]) not in {port for _, port in found}
    assert ports(found, "caddy") == public


def udp_bound(p: RunningPlatform) -> dict[tuple[str, int], str]:
    """Every UDP socket bound to receive from anyone (no remote address) of the processes `berth
    up` runs: address and port -> the process's command line."""
    found: dict[tuple[str, int], str] = {}
    for proc in [psutil.Process(p.proc.pid), *psutil.Process(p.proc.pid).children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            command = " ".join(proc.cmdline())
            for conn in proc.net_connections(kind="udp"):
                if not conn.raddr:
                    found[(conn.laddr.ip, conn.laddr.port)] = command
    return found


def test_the_routers_slot_dns_answers_on_loopback_only(platform: RunningPlatform) -> None:
    env: dict[str, Any] = platform.env
    found = udp_bound(platform)
    slot_dns = {(address, port) for (address, port), command in found.items() if "berth_router" in command}
    assert slot_dns == {("127.0.0.1", int(env["BERTH_SLOT_DNS_PORT"]))}, found
    # Beyond loopback, UDP is only the proxy's HTTPS port (HTTP/3).
    exposed = {(address, port): command for (address, port), command in found.items() if not loopback(address)}
    assert {port for _, port in exposed} <= {int(env["BERTH_HTTPS_PORT"])}, exposed
    assert all("caddy" in command for command in exposed.values()), exposed
