"""An unexpected exception in a route answers 500 with the documented `internal` code and a
message that points at the API log, never the exception's own text (which may hold data)."""

from __future__ import annotations

import httpx
from berth_api import errors
from fastapi import FastAPI


async def test_an_unexpected_exception_is_500_internal_without_its_text() -> None:
    app = FastAPI()
    errors.install(app)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("password=hunter2 in a stack of secrets")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "internal"
    assert "api log" in error["message"] and "hunter2" not in response.text
