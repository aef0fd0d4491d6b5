"""The router's one-shot HTTP client: requests as bytes, responses parsed strictly."""

from __future__ import annotations

import asyncio

import pytest
from berth_shared.http1 import HttpError, decode_chunked, encode_request, parse_response, request


def test_a_request_names_its_host_closes_and_counts_its_body() -> None:
    raw = encode_request("POST", "/load", "127.0.0.1:2019", b'{"a":1}', "application/json")
    assert raw == (
        b"POST /load HTTP/1.0\r\nHost: 127.0.0.1:2019\r\nConnection: close\r\nContent-Length: 7\r\n"
        b"Content-Type: application/json\r\n\r\n" + b'{"a":1}'
    )


def test_a_response_gives_status_headers_and_the_declared_body() -> None:
    response = parse_response(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\nnullEXTRA"
    )
    assert (response.status, response.headers["content-type"], response.json()) == (200, "application/json", None)


def test_a_chunked_body_is_decoded() -> None:
    assert decode_chunked(b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\n\r\n") == b"Wikipedia"
    response = parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
    assert response.text == "ok"


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nContent-Len",
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nabc",
    ],
)
def test_anything_else_is_an_error_not_a_guess(raw: bytes) -> None:
    with pytest.raises(HttpError):
        parse_response(raw)


async def test_a_round_trip_with_a_real_server_and_the_errors_it_can_end_in() -> None:
    seen: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.0 201 Created\r\n\r\nmade")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        response = await request("127.0.0.1", port, "GET", "/x", host="shop.example.com")
        assert (response.status, response.text) == (201, "made")
        assert b"Host: shop.example.com\r\n" in seen[0]
    finally:
        server.close()
        await server.wait_closed()
    with pytest.raises(HttpError):
        await request("127.0.0.1", port, "GET", "/", host="x")  # nothing listens any more


async def test_a_server_that_never_answers_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # waits for the client to give up
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(HttpError, match=r"no answer within 0\.3s"):
            await request("127.0.0.1", port, "GET", "/", host="x", timeout=0.3)
    finally:
        server.close()
        await server.wait_closed()
