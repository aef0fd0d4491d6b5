"""A CLI `Api` whose HTTP goes to fixed answers (httpx's MockTransport), for the commands' tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from berth_cli.client import Api, Config

Answer = Any | Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeApi:
    """``answers[(method, path)]``: a JSON body (200), an ``httpx.Response`` or a function of the
    request; every request is recorded in ``requests``."""

    answers: dict[tuple[str, str], Answer]
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.get((request.method, request.url.path))
        if answer is None:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": f"no {request.url.path}"}})
        if callable(answer):
            return answer(request)
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    def api(self) -> Api:
        api = Api(Config(url="http://berth.test", token="t"))
        transport = httpx.MockTransport(self.handle)
        headers = {"Authorization": "Bearer t"}
        api.http = httpx.Client(base_url="http://berth.test", headers=headers, transport=transport)
        return api

    def bodies(self, method: str, path: str) -> list[Any]:
        return [
            json.loads(r.content) if r.content else None
            for r in self.requests
            if r.method == method and r.url.path == path
        ]


def sse(*events: tuple[str, dict[str, Any]]) -> httpx.Response:
    """A complete Server-Sent Events answer of ``(event, data)`` pairs."""
    text = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
    return httpx.Response(200, content=text.encode(), headers={"Content-Type": "text/event-stream"})
