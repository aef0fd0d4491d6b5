"""A webhook URL's target: parsed, resolved once (here by a local stub DNS server) and checked."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import httpx
import pytest
from acme_testing import challtestsrv_argv
from berth_shared.webhook_targets import (
    Target,
    TargetPolicy,
    TargetRefused,
    TargetUnresolved,
    resolve_target,
    split_url,
)
from berth_testing import free_port, wait_for


def test_policy_from_the_environment() -> None:
    assert TargetPolicy.from_env({}) == TargetPolicy(allow_private=False, dns_server=None)
    assert TargetPolicy.from_env(
        {"BERTH_ALLOW_PRIVATE_WEBHOOKS": "true", "BERTH_DNS_SERVER": "127.0.0.1:8053"}
    ) == TargetPolicy(allow_private=True, dns_server=("127.0.0.1", 8053))
    with pytest.raises(ValueError, match="BERTH_ALLOW_PRIVATE_WEBHOOKS"):
        TargetPolicy.from_env({"BERTH_ALLOW_PRIVATE_WEBHOOKS": "perhaps"})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://hooks.example.com/x?y=1", ("https", "hooks.example.com", 443)),
        ("http://Hooks.Example.com./x", ("http", "hooks.example.com", 80)),
        ("http://[::1]:9000/", ("http", "::1", 9000)),
    ],
)
def test_split_url(url: str, expected: tuple[str, str, int]) -> None:
    assert split_url(url) == expected


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "http:///x", "http://example.com:0/", "http://example.com:99999/"]
)
def test_urls_that_are_no_target(url: str) -> None:
    with pytest.raises(ValueError):
        split_url(url)


async def test_literal_addresses_are_checked_without_resolving() -> None:
    strict = TargetPolicy(dns_server=("127.0.0.1", 9))  # would fail at once if it were asked
    with pytest.raises(TargetRefused, match=r"127\.0\.0\.1 is a loopback address"):
        await resolve_target("http://127.0.0.1:2019/stop", strict)
    with pytest.raises(TargetRefused, match="standard notation"):
        await resolve_target("http://2130706433/", strict)
    public = await resolve_target("https://93.184.215.14/hook", strict)
    assert public == Target(scheme="https", host="93.184.215.14", port=443, address="93.184.215.14")
    allowed = await resolve_target("http://127.0.0.1:9000/", TargetPolicy(allow_private=True))
    assert allowed.address == "127.0.0.1"


Zone = tuple[Callable[[str, list[str]], None], tuple[str, int]]  # point(name, addresses), server


@pytest.fixture(scope="module")
def zone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zone]:
    """pebble-challtestsrv as the DNS server: only the records a test sets exist."""
    port, admin = free_port(), free_port()
    with open(tmp_path_factory.mktemp("dns") / "challtestsrv.log", "wb") as out:
        proc = subprocess.Popen(
            challtestsrv_argv(f"127.0.0.1:{port}", f"127.0.0.1:{admin}"), stdout=out, stderr=subprocess.STDOUT
        )

    def ask(action: str, **body: object) -> bool:
        return httpx.post(f"http://127.0.0.1:{admin}/{action}", json=body, timeout=5).status_code == 200

    def point(name: str, addresses: list[str]) -> None:
        assert ask("clear-a", host=f"{name}.") and ask("add-a", host=f"{name}.", addresses=addresses)

    try:
        wait_for(lambda: ask("clear-a", host="probe.invalid."), what="challtestsrv to answer")
        yield point, ("127.0.0.1", port)
    finally:
        proc.terminate()
        proc.wait(10)


async def test_names_are_resolved_and_every_address_checked(
    zone: Zone,
) -> None:
    point, server = zone
    policy = TargetPolicy(dns_server=server)
    point("public.example.com", ["93.184.215.14"])
    target = await resolve_target("https://public.example.com/hook", policy)
    assert target == Target(scheme="https", host="public.example.com", port=443, address="93.184.215.14")
    point("mixed.example.com", ["93.184.215.14", "10.0.0.7"])
    with pytest.raises(TargetRefused, match=r"mixed\.example\.com resolves to 10\.0\.0\.7, which is a private address"):
        await resolve_target("https://mixed.example.com/hook", policy)
    with pytest.raises(TargetUnresolved, match=r"nothing\.example\.com has no address"):
        await resolve_target("https://nothing.example.com/hook", policy)
    point("local.example.com", ["127.0.0.1"])
    assert (await resolve_target("http://local.example.com:81/", TargetPolicy(True, server))).port == 81
