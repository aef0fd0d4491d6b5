"""The app event stream the dashboard's timeline is fed from (``GET /api/apps/{id}/events?follow=1``),
at the HTTP level against the whole platform: a client that loses its connection in the middle of
a rollout and reconnects with ``Last-Event-ID`` (what a browser's EventSource does) receives
exactly the lifecycle steps and history entries it missed: none twice, none lost."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from berth_testing import RunningPlatform, wait_for

pytestmark = pytest.mark.e2e

Identity = tuple[str, ...]


class Sse:
    """One event-stream connection, read event by event. ``last_id`` is the id a browser would
    send on reconnecting: that of the newest event handed over (events without one keep it)."""

    def __init__(self, platform: RunningPlatform, path: str, last_event_id: str | None = None) -> None:
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        self._cm = platform.api.stream("GET", path, headers=headers, timeout=httpx.Timeout(10, read=30))
        response = self._cm.__enter__()
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        self._lines = response.iter_lines()
        self.last_id = last_event_id
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def events(self) -> Iterator[tuple[str, dict[str, Any]]]:
        name, data, event_id = "message", "", None
        for line in self._lines:
            if line == "":
                if data:
                    if event_id is not None:
                        self.last_id = event_id
                    yield name, json.loads(data)
                name, data, event_id = "message", "", None
            elif line.startswith("id:"):
                event_id = line[3:].strip()
            elif line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()

    def read_until(self, done: Callable[[str, dict[str, Any]], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for name, data in self.events():
            self.seen.append((name, data))
            if done(name, data):
                return
            assert time.monotonic() < deadline, f"timed out after {timeout}s; last event {name}: {data}"
        raise AssertionError("the stream ended")

    def close(self) -> None:
        self._cm.__exit__(None, None, None)

    def __enter__(self) -> Sse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def step_identity(release_id: str, s: dict[str, Any]) -> Identity:
    return ("step", release_id, s["step"], s["slot"], s["at"])


def history_identity(h: dict[str, Any]) -> Identity:
    return ("history", h["kind"], str(h["releaseId"]), h["at"], json.dumps(h["detail"], sort_keys=True))


def streamed(seen: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, Identity]]:
    """(key, identity) of every step and history event received, in order."""
    out = []
    for name, data in seen:
        if name == "step":
            out.append((data["key"], step_identity(data["releaseId"], data)))
        elif name == "history":
            out.append((data["key"], history_identity(data)))
    return out


def recorded(p: RunningPlatform, app: str) -> set[Identity]:
    """Everything the REST API has for the app: every release's steps and the history."""
    out: set[Identity] = set()
    for r in p.api.get(f"/api/apps/{app}/releases").json()["items"]:
        detail = p.api.get(f"/api/apps/{app}/releases/{r['id']}").json()
        out |= {step_identity(r["id"], s) for s in detail["steps"]}
    out |= {history_identity(h) for h in p.api.get(f"/api/apps/{app}/events", params={"limit": 5000}).json()["items"]}
    return out


def deploy_and_wait_live(p: RunningPlatform, app: str, image: str) -> dict[str, Any]:
    response = p.api.post(f"/api/apps/{app}/deploy", json={"image": image})
    assert response.status_code == 202, response.text
    rel = dict(response.json())

    def live() -> bool:
        r = p.api.get(f"/api/apps/{app}/releases/{rel['id']}").json()
        assert r["status"] != "failed", r["reason"]
        return bool(r["status"] == "live")

    wait_for(live, timeout=90, what=f"{app} {image} live")
    return rel


def test_reconnecting_with_last_event_id_resumes_with_exactly_the_missed_events(
    platform: RunningPlatform, test_images: dict[str, str]
) -> None:
    app = "ev-resume"
    assert platform.api.post("/api/apps", json={"name": app}).status_code == 201
    first = deploy_and_wait_live(platform, app, test_images["v1"])
    wait_for(
        lambda: any(
            s["step"] == "proxy.switched"
            for s in platform.api.get(f"/api/apps/{app}/releases/{first['id']}").json()["steps"]
        ),
        what="v1's steps recorded",
    )
    path = f"/api/apps/{app}/events?follow=1"

    # Connection A: the current state, then a second deploy live; cut mid-rollout, right after
    # the new container started (its health check, the proxy switch and the old slot's drain
    # and stop are still to come).
    before = recorded(platform, app)
    with Sse(platform, path) as a:
        a.read_until(lambda _n, _d: {i for _, i in streamed(a.seen)} >= before)
        second = platform.api.post(f"/api/apps/{app}/deploy", json={"image": test_images["v2"]}).json()
        a.read_until(lambda n, d: n == "step" and d["releaseId"] == second["id"] and d["step"] == "container.started")
        cut = a.last_id
    got_a = streamed(a.seen)
    assert cut, "step and history events carry an id to resume from"

    # While disconnected the rollout finishes: the proxy switches, the old slot drains and stops.
    def finished() -> bool:
        steps = platform.api.get(f"/api/apps/{app}/releases/{second['id']}").json()["steps"]
        return "old.stopped" in {s["step"] for s in steps}

    wait_for(finished, timeout=90, what="v2's rollout to finish")
    wait_for(
        lambda: any(
            h["kind"] == "container.exited" and h["releaseId"] == first["id"]
            for h in platform.api.get(f"/api/apps/{app}/events").json()["items"]
        ),
        what="the old container's exit in the history",
    )
    missed = recorded(platform, app) - {i for _, i in got_a}
    assert {i[2] for i in missed if i[0] == "step"} >= {"proxy.switched", "old.drained", "old.stopped"}

    # Connection B, resumed: exactly what A missed, each once, and nothing A already had.
    with Sse(platform, path, last_event_id=cut) as b:
        b.read_until(lambda _n, _d: {i for _, i in streamed(b.seen)} >= missed)
        got_b = streamed(b.seen)
        # ... and it carries on live: a hard restart's step arrives on the resumed stream.
        assert platform.api.post(f"/api/apps/{app}/restart", params={"hard": "true"}).status_code == 202
        b.read_until(lambda n, d: n == "step" and d["step"] == "container.restarted")
    repeated = [i for i, n in Counter(i for _, i in got_b).items() if n > 1]
    assert repeated == [], f"sent twice after the reconnect: {repeated}"
    again = {i for _, i in got_b} & {i for _, i in got_a}
    assert again == set(), f"resent although received before the cut: {sorted(again)}"
    assert {i for _, i in got_b} == missed
    # Over both connections: every entry recorded before the reconnect, each under one key once.
    keys = [k for k, _ in got_a + got_b]
    assert len(keys) == len(set(keys))
    assert {i for _, i in got_a + got_b} >= before | missed
    platform.api.delete(f"/api/apps/{app}")
