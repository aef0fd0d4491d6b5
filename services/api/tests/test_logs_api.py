"""The API's logs pieces without a server: parameter validation, SSE framing, the live tail's
behaviour (recent lines, new lines, resume, slow clients skip ahead, heartbeats, a logs service
restart), and bounded reads of Berth's own log files."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from berth_api import log_files, sse
from berth_api.routes.logs import PROCESS_FILTER, RUN_FILTER, check_filter, check_q, parse_when
from berth_shared.contracts.logs import LogItem, LogPage, LogQuery
from berth_shared.errors import BusUnavailable, ValidationFailed

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def test_since_and_until_take_timestamps_or_durations_back_from_now() -> None:
    assert parse_when("since", "15m", NOW) == "2024-06-01T11:45:00+00:00"
    assert parse_when("since", "2d", NOW) == "2024-05-30T12:00:00+00:00"
    assert parse_when("since", "2024-06-01T10:00:00Z", NOW) == "2024-06-01T10:00:00+00:00"
    assert parse_when("until", "2024-06-01T10:00:00", NOW) == "2024-06-01T10:00:00+00:00"
    assert parse_when("until", "2024-06-01T12:00:00+02:00", NOW) == "2024-06-01T10:00:00+00:00"
    assert parse_when("since", None, NOW) is None
    # further back than year 1 means everything, not a server error
    assert parse_when("since", "212492044h", NOW) == "0001-01-01T00:00:00+00:00"
    with pytest.raises(ValidationFailed) as err:
        parse_when("until", "last tuesday", NOW)
    assert err.value.details[0].field == "until"


def test_search_text_is_bounded() -> None:
    assert check_q("") is None
    assert check_q("timeout") == "timeout"
    with pytest.raises(ValidationFailed) as err:
        check_q("x" * 300)
    assert err.value.details[0].field == "q"
    with pytest.raises(ValidationFailed) as err:
        check_q("a\x00b")  # Postgres text holds no NUL: a clear 422, not a 500
    assert err.value.details[0].field == "q"


RUN = "0b6a2f9e-3c1d-4e5f-8a7b-9c0d1e2f3a4b"


def test_process_and_run_filters_are_names_and_run_ids() -> None:
    assert check_filter("process", None, PROCESS_FILTER, "a process name") is None
    assert check_filter("process", "", PROCESS_FILTER, "a process name") is None
    assert check_filter("process", "worker", PROCESS_FILTER, "a process name") == "worker"
    assert check_filter("run", RUN.upper(), RUN_FILTER, "a run id") == RUN
    for field, value, pattern in [("process", "Worker", PROCESS_FILTER), ("process", "w\n", PROCESS_FILTER),
                                  ("run", "42", RUN_FILTER)]:  # fmt: skip
        with pytest.raises(ValidationFailed) as err:
            check_filter(field, value, pattern, "x")
        assert err.value.details[0].field == field


def test_a_line_names_its_process_and_run() -> None:
    item = LogItem(id=1, timestamp="t", stream="stdout", release_id="r", message="m", process="cron", run_id=RUN)
    assert (sse.item_view(item)["process"], sse.item_view(item)["runId"]) == ("cron", RUN)
    plain = LogItem(id=2, timestamp="t", stream="stdout", release_id="r", message="m")
    assert (sse.item_view(plain)["process"], sse.item_view(plain)["runId"]) == ("web", None)


async def test_follow_asks_with_the_process_and_run_filters() -> None:
    asked: list[LogQuery] = []

    async def fetch(q: LogQuery) -> LogPage:
        asked.append(q)
        return LogPage(items=[])

    async def gone() -> bool:
        return len(asked) >= 2

    base = LogQuery(app_id="a", process="worker", run_id=RUN)
    stream = sse.follow(fetch, base, after_id=None, disconnected=gone, poll=0.01)
    async with asyncio.timeout(5):
        async for _ in stream:
            pass
    assert [(q.process, q.run_id) for q in asked] == [("worker", RUN), ("worker", RUN)]


def test_events_carry_the_line_id_and_one_line_of_json() -> None:
    text = sse.event({"message": "a\nb"}, id=7)
    assert text == 'id: 7\ndata: {"message":"a\\nb"}\n\n'
    assert sse.event({"x": 1}, name="skipped").startswith("event: skipped\n")
    assert sse.comment("two\nlines") == ": two lines\n\n"


def test_last_event_id_must_be_a_line_id() -> None:
    assert sse.parse_last_event_id(None) is None
    assert sse.parse_last_event_id(" 42 ") == 42
    with pytest.raises(ValueError):
        sse.parse_last_event_id("abc")
    with pytest.raises(ValueError):
        sse.parse_last_event_id("-1")


class FakeLogs:
    """The logs service's query semantics over an in-memory list of lines."""

    def __init__(self, count: int = 0) -> None:
        self.items: list[LogItem] = []
        self.calls = 0
        self.fail_next = 0
        self.add(count)

    def add(self, count: int) -> None:
        for _ in range(count):
            n = len(self.items) + 1
            self.items.append(LogItem(id=n, timestamp="t", stream="stdout", release_id="r", message=f"line {n}"))

    async def fetch(self, q: LogQuery) -> LogPage:
        self.calls += 1
        if self.fail_next:
            self.fail_next -= 1
            raise BusUnavailable("the logs service is not answering")
        if q.tail and q.after_id is None:
            return LogPage(items=self.items[-q.limit :])
        after = [i for i in self.items if i.id > (q.after_id or 0)]
        page = after[: q.limit]
        lag = None
        if q.lag_cap:
            last = page[-1].id if page else (q.after_id or 0)
            lag = min(q.lag_cap + 1, len([i for i in self.items if i.id > last]))
        return LogPage(items=page, next_cursor=page[-1].id if len(after) > q.limit else None, lag=lag)


def parse(chunk: str) -> dict[str, Any]:
    event: dict[str, Any] = {}
    for line in chunk.strip("\n").split("\n"):
        key, _, value = line.partition(": ") if not line.startswith(":") else ("comment", "", line[2:])
        event[key] = json.loads(value) if key == "data" else value
    return event


class Client:
    """Reads the stream like a browser would, and can hang up."""

    def __init__(self, logs: FakeLogs, **kw: Any) -> None:
        self.gone = False
        kw.setdefault("after_id", None)
        kw.setdefault("poll", 0.01)

        async def disconnected() -> bool:
            return self.gone

        self.stream: AsyncIterator[str] = sse.follow(logs.fetch, LogQuery(app_id="a"), disconnected=disconnected, **kw)

    async def next(self) -> dict[str, Any]:
        return parse(await asyncio.wait_for(anext(self.stream), timeout=5))

    async def next_data(self) -> dict[str, Any]:
        while "data" not in (e := await self.next()):
            pass
        return e

    async def hang_up(self) -> None:
        self.gone = True
        async with asyncio.timeout(5):
            async for _ in self.stream:
                pass


async def test_follow_sends_the_recent_lines_then_new_ones_as_they_arrive() -> None:
    logs = FakeLogs(10)
    client = Client(logs, recent=3)
    assert [(await client.next_data())["data"]["message"] for _ in range(3)] == ["line 8", "line 9", "line 10"]
    logs.add(2)
    first_new = await client.next_data()
    assert (first_new["id"], first_new["data"]["message"]) == ("11", "line 11")
    assert (await client.next_data())["id"] == "12"
    await client.hang_up()


async def test_follow_resumes_after_the_last_event_id_without_repeating_lines() -> None:
    logs = FakeLogs(10)
    client = Client(logs, after_id=6, recent=3)
    assert [(await client.next_data())["id"] for _ in range(4)] == ["7", "8", "9", "10"]
    await client.hang_up()


async def test_a_client_that_does_not_read_causes_no_further_fetches() -> None:
    logs = FakeLogs(100_000)
    client = Client(logs, after_id=0, chunk=100, max_behind=1_000_000)
    await client.next_data()
    calls = logs.calls
    await asyncio.sleep(0.2)  # the client reads nothing for a while
    logs.add(1000)
    assert logs.calls == calls  # nothing fetched, nothing buffered
    await client.hang_up()


async def test_a_client_too_far_behind_skips_to_the_newest_lines_and_is_told() -> None:
    logs = FakeLogs(30)
    client = Client(logs, after_id=0, chunk=5, max_behind=10, recent=3)
    assert [(await client.next_data())["id"] for _ in range(5)] == ["1", "2", "3", "4", "5"]
    skipped = await client.next_data()
    assert skipped["event"] == "skipped"
    assert (skipped["data"]["afterId"], skipped["data"]["resumeAt"]) == (5, 28)
    assert [(await client.next_data())["id"] for _ in range(3)] == ["28", "29", "30"]
    await client.hang_up()


async def test_an_idle_stream_sends_heartbeats() -> None:
    client = Client(FakeLogs(0), heartbeat=0.0)
    assert (await client.next())["comment"] == "berth log stream"
    assert (await client.next())["comment"] == "keep-alive"
    await client.hang_up()


async def test_the_stream_survives_the_logs_service_restarting() -> None:
    logs = FakeLogs(2)
    client = Client(logs, recent=5)
    assert [(await client.next_data())["id"] for _ in range(2)] == ["1", "2"]
    logs.fail_next = 3
    logs.add(1)
    assert "logs unavailable" in (await client.next())["comment"]
    assert (await client.next_data())["id"] == "3"
    await client.hang_up()


def write_log(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines))


def jline(service: str, msg: str, ts: str, **extra: str) -> str:
    return json.dumps({"ts": ts, "level": "info", "service": service, "msg": msg, **extra})


def test_tail_reads_the_last_matching_lines_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "api.log"
    write_log(path, [f"line {i}" for i in range(1000)])
    assert log_files.tail_lines(path, 3, lambda _: True, block=64) == ["line 997", "line 998", "line 999"]
    assert log_files.tail_lines(path, 2, lambda s: s.endswith("5"), block=100) == ["line 985", "line 995"]
    assert log_files.tail_lines(path, 5000, lambda _: True)[0] == "line 0"
    assert log_files.tail_lines(tmp_path / "missing.log", 10, lambda _: True) == []


def test_tail_never_reads_more_than_its_budget(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    write_log(path, ["needle at the start", *(f"filler {i}" for i in range(20000))])
    assert log_files.tail_lines(path, 1, lambda s: "needle" in s, max_scan=64 * 1024) == []
    assert log_files.tail_lines(path, 1, lambda s: "needle" in s) == ["needle at the start"]


def test_platform_logs_merge_services_by_time_and_filter_by_app(tmp_path: Path) -> None:
    write_log(
        tmp_path / "api.log",
        [
            jline("api", "api started", "2024-06-01T10:00:00.000+00:00"),
            jline("api", "deploy requested", "2024-06-01T10:00:02.000+00:00", app_id="app-1"),
        ],
    )
    write_log(
        tmp_path / "runtime-agent.log",
        [
            jline("runtime-agent", "release r1 failed: no image", "2024-06-01T10:00:03.000+00:00", app_id="app-1"),
            "Traceback (most recent call last): not json",
            jline("runtime-agent", "other app", "2024-06-01T10:00:01.000+00:00", app_id="app-2"),
        ],
    )
    everything = log_files.read(tmp_path, log_files.SERVICES, limit=10, q=None, app_id=None)
    assert [e["message"] for e in everything] == [
        "api started",
        "other app",
        "deploy requested",
        "release r1 failed: no image",
        "Traceback (most recent call last): not json",  # kept after the line before it
    ]
    assert everything[-1]["service"] == "runtime-agent" and everything[-1]["timestamp"] is None
    one_app = log_files.read(tmp_path, log_files.SERVICES, limit=10, q=None, app_id="app-1")
    assert [(e["service"], e["message"], e["appId"]) for e in one_app] == [
        ("api", "deploy requested", "app-1"),
        ("runtime-agent", "release r1 failed: no image", "app-1"),
    ]
    failed = log_files.read(tmp_path, ("runtime-agent",), limit=10, q="FAILED", app_id=None)
    assert [e["message"] for e in failed] == ["release r1 failed: no image"]
    newest = log_files.read(tmp_path, log_files.SERVICES, limit=1, q=None, app_id="app-1")
    assert [e["message"] for e in newest] == ["release r1 failed: no image"]
