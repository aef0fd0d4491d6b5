"""The on-demand TLS ``ask`` endpoint: only hostnames the router routes are approved."""

from __future__ import annotations

import httpx
import pytest
from berth_router.ask import AskServer, decide

KNOWN = {"shop.berth.test", "www.shop.example"}


@pytest.mark.parametrize("name", ["www.shop.example", "WWW.Shop.Example.", "shop.berth.test"])
def test_known_hostnames_are_approved(name: str) -> None:
    assert decide(f"/ask?domain={name}", KNOWN)[0] == 200


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("/ask?domain=evil.example", 403),
        ("/ask?domain=shop.example", 403),
        ("/ask?domain=x.www.shop.example", 403),
        ("/ask", 400),
        ("/ask?domain=", 400),
        ("/ask?domain=a&domain=www.shop.example", 400),
        ("/other?domain=www.shop.example", 404),
    ],
)
def test_anything_else_is_refused(target: str, status: int) -> None:
    assert decide(target, KNOWN)[0] == status


async def test_the_server_answers_on_loopback_and_keeps_a_free_port() -> None:
    async def hosts() -> set[str]:
        return KNOWN

    server = AskServer(hosts)
    port = await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/ask", params={"domain": "www.shop.example"})).status_code == 200
            refused = await client.get("/ask", params={"domain": "anything.example"})
            assert refused.status_code == 403 and "not a verified hostname of any app" in refused.text
            assert (await client.post("/ask", params={"domain": "www.shop.example"})).status_code == 405
        # The same port again when it is free; another one when it is taken.
        other = AskServer(hosts)
        assert await other.start(port) != port
        await other.close()
    finally:
        await server.close()
    again = AskServer(hosts)
    assert await again.start(port) == port
    await again.close()


def test_the_verification_path_answers_the_token_of_the_requests_host() -> None:
    def token(host: str) -> str:
        return f"token-for-{host}"

    assert decide("/.well-known/berth-verify", KNOWN, "Shop.Example:8080", token) == (200, "token-for-shop.example")
    assert decide("/.well-known/berth-verify", KNOWN, "", token)[0] == 404


async def test_refusals_are_reported_and_the_token_is_served_over_http() -> None:
    refused: list[tuple[str, str]] = []

    async def hosts() -> set[str]:
        return KNOWN

    async def on_refused(name: str, reason: str) -> None:
        refused.append((name, reason))

    server = AskServer(hosts, token=lambda host: f"t:{host}", on_refused=on_refused)
    port = await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/ask", params={"domain": "Evil.Example"})).status_code == 403
            answer = await client.get("/.well-known/berth-verify", headers={"Host": "www.shop.example"})
            assert (answer.status_code, answer.text) == (200, "t:www.shop.example")
    finally:
        await server.close()
    assert refused == [("evil.example", "evil.example is not a verified hostname of any app")]
