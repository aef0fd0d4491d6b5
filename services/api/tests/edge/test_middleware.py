"""The edge middleware around a small FastAPI app, in process: bodies over the cap are refused
with 413 whether declared or streamed (chunked), without the route ever seeing more than the
cap; a JSON route's parse error does not hide the 413; the caller is named for the routes.
Authentication itself is exercised on a running platform (tests/e2e/test_api_edge.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
from berth_api import errors
from berth_api.edge import gate
from berth_api.edge.context import caller_of
from berth_api.edge.middleware import EdgeMiddleware
from fastapi import FastAPI, Request
from pydantic import BaseModel
from starlette.requests import Request as StarletteRequest

SECRET = "proxy-secret"


class Thing(BaseModel):
    name: str


def app_under_test(seen: dict[str, Any]) -> httpx.AsyncClient:
    app = FastAPI()
    errors.install(app)

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            seen["streamed"] = size
        return {"size": size}

    @app.post("/things")
    async def things(body: Thing) -> dict[str, str]:
        return {"name": body.name}

    @app.get("/who")
    async def who(request: Request) -> dict[str, object]:
        c = caller_of(request.scope)
        return {"address": c.address, "https": c.https}

    async def never_called(request: StarletteRequest) -> None:
        raise AssertionError("these paths need no authentication")

    async def no_lockouts(*_: object) -> None:
        raise AssertionError("no lockout here")

    app.add_middleware(EdgeMiddleware, authenticate=never_called, on_lockout=no_lockouts, proxy_secret=SECRET)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.9", 5000))
    return httpx.AsyncClient(transport=transport, base_url="http://berth")


async def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b"a" * piece


async def test_a_streamed_body_passes_up_to_the_cap_and_is_cut_just_after_it() -> None:
    seen: dict[str, Any] = {}
    c = app_under_test(seen)
    at_cap = await c.post("/echo", content=chunks(gate.JSON_CAP))
    assert at_cap.status_code == 200 and at_cap.json() == {"size": gate.JSON_CAP}
    over = await c.post("/echo", content=chunks(50 * gate.JSON_CAP))
    assert over.status_code == 413
    assert over.json()["error"] == {
        "code": "payload_too_large",
        "message": "request body larger than 1 MiB",
        "details": [],
    }
    assert seen["streamed"] <= gate.JSON_CAP  # the route never got a byte past the cap


async def test_a_declared_length_over_the_cap_is_refused_before_the_route_runs() -> None:
    seen: dict[str, Any] = {}
    c = app_under_test(seen)
    response = await c.post("/echo", content=b"a" * (gate.JSON_CAP + 1))
    assert response.status_code == 413
    assert "streamed" not in seen


async def test_a_json_route_over_the_cap_answers_413_not_a_parse_error() -> None:
    c = app_under_test({})
    big = b'{"name": "' + b"a" * gate.JSON_CAP + b'"}'
    response = await c.post("/things", content=chunks(len(big)), headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text
    assert (await c.post("/things", json={"name": "ok"})).json() == {"name": "ok"}


async def test_routes_see_the_caller_the_edge_named() -> None:
    c = app_under_test({})
    assert (await c.get("/who")).json() == {"address": "127.0.0.9", "https": False}
    forged = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    assert (await c.get("/who", headers=forged)).json() == {"address": "127.0.0.9", "https": False}
    vouched = {**forged, "X-Berth-Proxy": SECRET}
    assert (await c.get("/who", headers=vouched)).json() == {"address": "203.0.113.7", "https": True}
