"""A webhook delivery owed when the health service dies is delivered after `berth up` restarts
it: the receiver is down at first (attempts fail and are recorded), the health service is
killed, the receiver comes up, and the alert arrives once, signed, with its attempts counted."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from berth_testing import RunningPlatform, free_port, wait_for

pytestmark = pytest.mark.e2e


class Receiver:
    def __init__(self, port: int) -> None:
        self.posts: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def test_an_owed_delivery_is_made_after_the_health_service_restarts(
    platform: RunningPlatform, test_images: dict[str, str]
) -> None:
    p = platform
    wait_for(lambda: p.api.get("/api/webhooks").status_code == 200, timeout=60, what="the health service")
    port = free_port()  # nothing listens here yet
    hook = ok(
        p.api.post("/api/webhooks", json={"url": f"http://127.0.0.1:{port}/hook", "events": ["deploy.succeeded"]}), 201
    )
    receiver: Receiver | None = None
    try:
        app = ok(p.api.post("/api/apps", json={"name": "hook-resume"}), 201)
        rel = ok(p.api.post("/api/apps/hook-resume/deploy", json={"image": test_images["v1"]}), 202)
        wait_for(lambda: ok(p.api.get(f"/api/apps/hook-resume/releases/{rel['id']}"))["status"] == "live", timeout=120)

        def owed() -> dict[str, Any] | None:
            items = ok(p.api.get(f"/api/webhooks/{hook['id']}/deliveries"))["items"]
            mine = [d for d in items if d["appId"] == app["id"] and d["event"] == "deploy.succeeded"]
            return mine[0] if mine and mine[0]["attempts"] >= 1 else None

        failed_once = wait_for(owed, timeout=120, what="a failed first attempt")
        assert failed_once["status"] == "pending" and failed_once["lastError"], failed_once

        old = p.service_pid("berth_health")
        os.kill(old, signal.SIGKILL)
        receiver = Receiver(port)
        wait_for(lambda: p.service_pid("berth_health") != old, timeout=120, what="the health service restarted")

        def delivered() -> dict[str, Any] | None:
            items = ok(p.api.get(f"/api/webhooks/{hook['id']}/deliveries"))["items"]
            done = [d for d in items if d["id"] == failed_once["id"] and d["status"] == "delivered"]
            return done[0] if done else None

        done = wait_for(delivered, timeout=180, what="the owed delivery after the restart")
        assert done["attempts"] > failed_once["attempts"]
        mine = [(h, b) for h, b in receiver.posts if json.loads(b)["app"]["id"] == app["id"]]
        assert len(mine) == 1, mine
        headers, body = mine[0]
        expected = "sha256=" + hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-berth-signature"], expected)
        assert json.loads(body)["event"] == "deploy.succeeded"
    finally:
        if receiver is not None:
            receiver.close()
        p.api.delete(f"/api/webhooks/{hook['id']}")
