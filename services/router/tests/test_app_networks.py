"""The networks refused on the platform hostname: the subnet pool and Docker's bridge."""

from __future__ import annotations

from berth_router.app_networks import app_networks, bridge_subnets

ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
berthb-1a2b3c4d\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
"""


def test_the_docker_bridge_network_is_read_from_the_kernels_routing_table() -> None:
    assert bridge_subnets(ROUTES) == ["172.17.0.0/16"]
    assert bridge_subnets(ROUTES, "eth0") == ["192.0.2.0/24"]  # the default route (via a gateway) is not a network


def test_the_pool_comes_first_and_a_host_without_docker0_refuses_the_pool_alone() -> None:
    assert app_networks("10.240.0.0/16", ROUTES) == ("10.240.0.0/16", "172.17.0.0/16")
    assert app_networks("10.240.0.0/16", "") == ("10.240.0.0/16",)


def test_the_builds_bridge_is_refused_too_once_it_exists() -> None:
    bridges = ("berthb-1a2b3c4d",)
    assert app_networks("10.240.0.0/16", ROUTES, bridges) == ("10.240.0.0/16", "172.17.0.0/16", "172.18.0.0/16")
    without = "\n".join(line for line in ROUTES.splitlines() if not line.startswith("berthb"))
    assert app_networks("10.240.0.0/16", without, bridges) == ("10.240.0.0/16", "172.17.0.0/16")
