"""App logs end to end: LogBatches published on the bus exactly as the runtime agent's
collector publishes them (its credentials, subjects and message ids) for an app created
through the API, read back through the HTTP API: filters, search, cursors, a 100 KiB line,
the live tail over SSE (new lines, Last-Event-ID), a logs service killed while batches flow
(nothing lost, nothing doubled), retention settings, and Berth's own platform logs."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
from berth_shared import bus
from berth_shared.contracts.base import encode
from berth_shared.contracts.logs import LogBatch, LogLine, log_subject
from berth_testing import api_error, wait_for

pytestmark = pytest.mark.e2e

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on its own loop in a worker thread (these tests are synchronous)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=180)


def docker_ts(at: datetime) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%S}.{at.microsecond * 1000:09d}Z"


class Collector:
    """Publishes like the runtime agent's collector: as the ``agent`` NATS user, on
    berth.logs.<app>.<stream>, with Nats-Msg-Id = <container>:<stream>:<first ts>."""

    def __init__(self, platform: Any) -> None:
        creds = json.loads((platform.home / "credentials.json").read_text())
        self.url = f"nats://127.0.0.1:{platform.env['BERTH_NATS_PORT']}"
        self.password = creds["nats_passwords"]["runtime-agent"]

    def batch(
        self,
        app_id: str,
        messages: list[str],
        *,
        stream: str = "stdout",
        release: str = "rel-1",
        container: str | None = None,
        at: datetime | None = None,
        process: str = "web",
        run_id: str = "",
    ) -> LogBatch:
        at = at or datetime.now(UTC)
        lines = [LogLine(ts=docker_ts(at + timedelta(microseconds=i)), message=m) for i, m in enumerate(messages)]
        return LogBatch(
            app_id=app_id,
            release_id=release,
            slot="a",
            container_id=container or f"ctr-{app_id}",
            stream=stream,
            lines=lines,
            process=process,
            run_id=run_id,
        )

    async def _publish(self, batches: list[LogBatch], pause: float) -> None:
        nc = await bus.connect(self.url, "agent", self.password, name="test-collector")
        try:
            js = nc.jetstream()
            for b in batches:
                await js.publish(
                    log_subject(b.app_id, b.stream),
                    encode(b),
                    headers={"Nats-Msg-Id": f"{b.container_id}:{b.stream}:{b.lines[0].ts}"},
                )
                if pause:
                    await asyncio.sleep(pause)
        finally:
            await nc.close()

    def publish(self, *batches: LogBatch, pause: float = 0.0) -> None:
        run_async(self._publish(list(batches), pause))


@pytest.fixture(scope="module")
def collector(platform: Any) -> Collector:
    return Collector(platform)


def new_app(platform: Any, prefix: str) -> str:
    response = platform.api.post("/api/apps", json={"name": f"{prefix}-{uuid.uuid4().hex[:6]}"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def logs(platform: Any, app: str, **params: Any) -> dict[str, Any]:
    response = platform.api.get(f"/api/apps/{app}/logs", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def messages(platform: Any, app: str, **params: Any) -> list[str]:
    return [i["message"] for i in logs(platform, app, **params)["items"]]


def all_items(platform: Any, app: str, **params: Any) -> list[dict[str, Any]]:
    """Every matching line, paging forward with the cursor from the beginning of time."""
    items: list[dict[str, Any]] = []
    cursor: int | None = None
    while True:
        page = logs(
            platform, app, since="2000-01-01T00:00:00Z", limit=5000, **params, **({"cursor": cursor} if cursor else {})
        )
        items += page["items"]
        if page["nextCursor"] is None:
            return items
        cursor = page["nextCursor"]


def wait_lines(platform: Any, app: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    def enough() -> list[dict[str, Any]] | None:
        items = all_items(platform, app)
        return items if len(items) >= count else None

    return wait_for(enough, timeout=timeout, what=f"{count} log lines of {app}")


def field_error(response: httpx.Response) -> str:
    assert response.status_code == 422, response.text
    return str(response.json()["error"]["details"][0]["field"])


def test_lines_are_read_back_filtered_searched_and_paged(platform: Any, collector: Collector) -> None:
    app = new_app(platform, "logsq")
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    big = "x" * (100 * 1024 - 3) + "end"
    collector.publish(
        collector.batch(app, [f"GET /item/{i} 200" for i in range(6)], at=t0, release="rel-1"),
        collector.batch(
            app,
            ["database timeout after 5s", "retrying 100% of requests"],
            stream="stderr",
            at=t0 + timedelta(minutes=1),
            release="rel-1",
        ),
        collector.batch(app, ["booted v2", big], at=t0 + timedelta(minutes=5), release="rel-2", container="ctr-2"),
    )
    items = wait_lines(platform, app, 10)
    assert [i["message"] for i in items][:6] == [f"GET /item/{i} 200" for i in range(6)]
    assert set(items[0]) == {"id", "timestamp", "stream", "releaseId", "message", "process", "runId"}
    assert items[-1]["message"] == big  # a 100 KiB line round-trips

    # The default is the recent lines, oldest first.
    assert messages(platform, app, limit=2) == ["booted v2", big]
    assert messages(platform, app, stream="stderr") == ["database timeout after 5s", "retrying 100% of requests"]
    assert messages(platform, app, release="rel-2", limit=1) == [big]
    assert messages(platform, app, q="TIMEOUT") == ["database timeout after 5s"]
    assert messages(platform, app, q="100%") == ["retrying 100% of requests"]
    assert messages(platform, app, q="/item/3") == ["GET /item/3 200"]
    assert messages(platform, app, q="no such text") == []
    window = messages(
        platform, app, since=(t0 + timedelta(seconds=30)).isoformat(), until=(t0 + timedelta(minutes=2)).isoformat()
    )
    assert window == ["database timeout after 5s", "retrying 100% of requests"]
    assert messages(platform, app, since="1h", stream="stdout", limit=3) == [f"GET /item/{i} 200" for i in range(3)]

    # Paging forward with the cursor visits every line once, in order.
    seen: list[str] = []
    page = logs(platform, app, since="1h", limit=4)
    while True:
        seen += [i["message"] for i in page["items"]]
        if page["nextCursor"] is None:
            break
        page = logs(platform, app, since="1h", limit=4, cursor=page["nextCursor"])
    assert seen == [i["message"] for i in items]

    # Paging back from the recent lines.
    recent = logs(platform, app, limit=3)
    older = logs(platform, app, limit=3, before=recent["prevCursor"])
    assert [i["message"] for i in older["items"] + recent["items"]] == [i["message"] for i in items[-6:]]


def test_lines_name_their_process_and_run_and_are_filtered_by_them(platform: Any, collector: Collector) -> None:
    app, run = new_app(platform, "logsp"), str(uuid.uuid4())
    t0 = datetime.now(UTC) - timedelta(minutes=5)
    collector.publish(
        collector.batch(app, ["GET / 200"], at=t0),
        collector.batch(app, ["picked job 1"], at=t0 + timedelta(seconds=1), container="ctr-w", process="worker"),
        collector.batch(
            app, ["migrated", "exit 0"], at=t0 + timedelta(seconds=2), container="ctr-r", process="run", run_id=run
        ),
    )
    items = wait_lines(platform, app, 4)
    assert [(i["process"], i["runId"], i["message"]) for i in items] == [
        ("web", None, "GET / 200"),
        ("worker", None, "picked job 1"),
        ("run", run, "migrated"),
        ("run", run, "exit 0"),
    ]
    assert messages(platform, app, process="worker") == ["picked job 1"]
    assert messages(platform, app, run=run.upper()) == ["migrated", "exit 0"]
    assert messages(platform, app, process="web", q="200") == ["GET / 200"]
    assert messages(platform, app, process="worker", run=run) == []
    # An empty filter is no filter; a bad one is refused naming it.
    assert len(messages(platform, app, process="", run="")) == 4
    url = f"/api/apps/{app}/logs"
    assert field_error(platform.api.get(url, params={"process": "Worker"})) == "process"
    assert field_error(platform.api.get(url, params={"run": "42"})) == "run"

    # The live tail of one process says which process and run each line is from.
    with platform.api.stream("GET", url, params={"follow": 1, "process": "run"}) as response:
        reader = SseReader(response)
        first = reader.next_data()
        assert (first["message"], first["process"], first["runId"]) == ("migrated", "run", run)
        collector.publish(
            collector.batch(app, ["web again"], container="ctr-2"),
            collector.batch(app, ["second run"], container="ctr-r2", process="run", run_id=str(uuid.uuid4())),
        )
        assert reader.next_data()["message"] == "exit 0"
        nxt = reader.next_data()  # not the web line published before it
        assert (nxt["message"], nxt["process"]) == ("second run", "run")


def test_bad_log_queries_are_refused_naming_the_field(platform: Any) -> None:
    app = new_app(platform, "logsbad")
    url = f"/api/apps/{app}/logs"
    assert field_error(platform.api.get(url, params={"limit": 0})) == "limit"
    assert field_error(platform.api.get(url, params={"limit": 5001})) == "limit"
    assert field_error(platform.api.get(url, params={"stream": "stdin"})) == "stream"
    assert field_error(platform.api.get(url, params={"since": "last week"})) == "since"
    assert field_error(platform.api.get(url, params={"until": "2024-13-01"})) == "until"
    assert field_error(platform.api.get(url, params={"follow": 1}, headers={"Last-Event-ID": "x"})) == "Last-Event-ID"
    api_error(platform.api.get("/api/apps/no-such-app/logs"), 404, "not_found")


class SseReader:
    """Reads events from an open SSE response, with a deadline per wait."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines: Iterator[str] = response.iter_lines()

    def next_data(self, within: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + within
        event: dict[str, str] = {}
        for line in self.lines:
            if time.monotonic() > deadline:
                break
            if line == "":
                if "data" in event:
                    # The SSE id is the line id the data carries.
                    return {"event": event.get("event"), "sseId": event.get("id"), **json.loads(event["data"])}
                event = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(": ")
                event[key] = value
        raise AssertionError(f"no event within {within}s")

    def until_message(self, text: str, within: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            event = self.next_data(within=deadline - time.monotonic())
            if event.get("message") == text:
                return event
        raise AssertionError(f"{text!r} did not arrive within {within}s")


def test_follow_streams_new_lines_and_resumes_after_last_event_id(platform: Any, collector: Collector) -> None:
    app = new_app(platform, "logsf")
    collector.publish(collector.batch(app, ["before the stream opened"]))
    wait_lines(platform, app, 1)
    url = f"/api/apps/{app}/logs"
    with platform.api.stream("GET", url, params={"follow": 1}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = SseReader(response)
        assert reader.until_message("before the stream opened")["stream"] == "stdout"
        collector.publish(collector.batch(app, ["published while following"], container="ctr-b"))
        second = reader.until_message("published while following")
    assert second["sseId"] == str(second["id"])

    collector.publish(collector.batch(app, ["missed 1", "missed 2"], container="ctr-c"))
    wait_lines(platform, app, 4)
    with platform.api.stream("GET", url, params={"follow": 1}, headers={"Last-Event-ID": second["sseId"]}) as response:
        reader = SseReader(response)
        resumed = [reader.next_data()["message"], reader.next_data()["message"]]
    assert resumed == ["missed 1", "missed 2"]

    with platform.api.stream("GET", url, params={"follow": 1, "q": "missed 2"}) as response:
        assert SseReader(response).next_data()["message"] == "missed 2"


def test_the_logs_service_killed_mid_stream_loses_and_duplicates_nothing(platform: Any, collector: Collector) -> None:
    app = new_app(platform, "logsk")
    t0 = datetime.now(UTC)
    batches = [
        collector.batch(
            app, [f"b{b:03d} l{n}" for n in range(10)], container=f"ctr-{b % 3}", at=t0 + timedelta(milliseconds=b)
        )
        for b in range(300)
    ]
    publisher = threading.Thread(target=collector.publish, args=batches, kwargs={"pause": 0.02})
    publisher.start()
    try:
        wait_for(lambda: 0 < len(all_items(platform, app)) < 3000, timeout=30, interval=0.05, what="ingest under way")
        old_pid = platform.service_pid("berth_logs")
        os.kill(old_pid, signal.SIGKILL)
        wait_for(lambda: platform.service_pid("berth_logs") != old_pid, timeout=30, what="the logs service restarted")
    finally:
        publisher.join(timeout=120)
    expected = [f"b{b:03d} l{n}" for b in range(300) for n in range(10)]

    def complete() -> list[str] | None:
        got = [i["message"] for i in all_items(platform, app)]
        return got if len(got) >= len(expected) else None

    got = wait_for(complete, timeout=90, interval=0.5, what="every published line after the restart")
    assert sorted(got) == sorted(expected)
    assert len(got) == len(set(got))


def test_retention_is_settable_per_app(platform: Any) -> None:
    app = new_app(platform, "logsr")
    url = f"/api/apps/{app}/logs/retention"
    assert platform.api.get(url).json() == {
        "maxAgeDays": 7,
        "maxLines": 1_000_000,
        "defaults": {"maxAgeDays": True, "maxLines": True},
    }
    response = platform.api.put(url, json={"maxAgeDays": 2, "maxLines": 5000})
    assert response.status_code == 200, response.text
    assert platform.api.get(url).json()["maxLines"] == 5000
    assert field_error(platform.api.put(url, json={"maxLines": 0})) == "maxLines"
    assert field_error(platform.api.put(url, json={"maxAgeDays": "forever"})) == "maxAgeDays"


def test_platform_logs_show_why_a_deploy_failed(platform: Any, test_images: dict[str, str]) -> None:
    started = platform.api.get("/api/platform/logs", params={"service": "api", "q": "api started"}).json()["items"]
    assert started and started[-1]["service"] == "api" and started[-1]["level"] == "info"
    assert field_error(platform.api.get("/api/platform/logs", params={"service": "nope"})) == "service"

    app = new_app(platform, "logsp")
    deployed = platform.api.post(f"/api/apps/{app}/deploy", json={"image": test_images["crash"]})
    assert deployed.status_code == 202, deployed.text
    release_id = deployed.json()["id"]

    def failed() -> bool:
        return bool(platform.api.get(f"/api/apps/{app}/releases/{release_id}").json()["status"] == "failed")

    wait_for(failed, timeout=120, what="the crashing release to fail")

    def explained() -> list[dict[str, Any]]:
        items = platform.api.get("/api/platform/logs", params={"appId": app}).json()["items"]
        return [i for i in items if i["service"] == "runtime-agent" and "failed" in i["message"]]

    lines = wait_for(explained, timeout=30, what="the agent's log line about the failed release")
    assert lines[-1]["appId"] == app
