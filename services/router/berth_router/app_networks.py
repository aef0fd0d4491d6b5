"""The networks app containers and builds send from: refused on the platform hostname.

The subnet pool holds every app network; Docker's default bridge (``docker0``) is where a
container started outside Berth sends from, and the builds' bridge (``berth_shared.build_network``)
where ``RUN`` steps do. Read from the kernel's routing table on every sync pass (the builds'
bridge appears with the first build), so nothing needs Docker's API.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from pathlib import Path

DOCKER_BRIDGE = "docker0"
ROUTE_TABLE = Path("/proc/net/route")


def _hex_ipv4(value: str) -> str:
    # /proc/net/route prints addresses as host-order (little-endian here) 32-bit hex.
    return socket.inet_ntoa(struct.pack("<I", int(value, 16)))


def bridge_subnets(route_table: str, interface: str = DOCKER_BRIDGE) -> list[str]:
    """The directly connected IPv4 networks of ``interface`` in a ``/proc/net/route`` text."""
    found = []
    for line in route_table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8 or fields[0] != interface or fields[2] != "00000000":
            continue
        network = ipaddress.IPv4Network(f"{_hex_ipv4(fields[1])}/{_hex_ipv4(fields[7])}", strict=False)
        found.append(str(network))
    return found


def app_networks(subnet_pool: str, route_table: str, bridges: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The subnet pool first, then the networks of Docker's bridge and of ``bridges`` (the
    builds' bridge), each only while it exists."""
    found = [str(ipaddress.IPv4Network(subnet_pool))]
    for interface in (DOCKER_BRIDGE, *bridges):
        found += bridge_subnets(route_table, interface)
    return tuple(dict.fromkeys(found))


def read_route_table() -> str:
    try:
        return ROUTE_TABLE.read_text()
    except OSError:
        return ""
