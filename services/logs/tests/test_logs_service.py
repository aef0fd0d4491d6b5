"""Integration: the logs service run in-process against the launcher's real Postgres and NATS, and bus
clients with the runtime agent's and the API's credentials (what they may publish/request)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import msgspec
import pytest
from berth_cli.launcher.platform import Platform
from berth_logs.cleanup import delete_app_lines
from berth_logs.migrations import MIGRATIONS
from berth_logs.service import CONSUMERS, main
from berth_shared import bus
from berth_shared.contracts.base import encode
from berth_shared.contracts.logs import (
    LOGS_QUERY,
    LOGS_RETENTION_GET,
    LOGS_RETENTION_SET,
    LOGS_STATS,
    GetLogStats,
    GetRetention,
    LogBatch,
    LogItem,
    LogLine,
    LogPage,
    LogQuery,
    LogStats,
    Retention,
    SetRetention,
    log_subject,
)
from berth_shared.errors import ValidationFailed
from berth_shared.service import ServiceContext, close_context, open_context
from berth_shared.settings import ServiceEnv, Settings
from berth_shared.streams import LOGS_LINES
from berth_testing import eventually
from nats.aio.client import Client

T = TypeVar("T")


def docker_ts(at: datetime, nanos: int = 0) -> str:
    """A timestamp as Docker writes it (RFC 3339, nanoseconds): ``at`` plus ``nanos``."""
    return f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%S}.{at.microsecond * 1000 + nanos:09d}Z"


def batch(
    app_id: str,
    messages: list[str],
    *,
    container: str = "c1",
    stream: str = "stdout",
    release: str = "rel1",
    at: datetime | None = None,
    first_nanos: int = 0,
) -> LogBatch:
    at = at or datetime.now(UTC)
    lines = [LogLine(ts=docker_ts(at, first_nanos + i), message=m) for i, m in enumerate(messages)]
    # Container ids are unique per app here, as Docker's are everywhere.
    return LogBatch(
        app_id=app_id, release_id=release, slot="a", container_id=f"{app_id}-{container}", stream=stream, lines=lines
    )


async def publish_batch(nc: Client, b: LogBatch, msg_id: str | None = None) -> int:
    """Publish as the collector does: Nats-Msg-Id = <container>:<stream>:<first ts>."""
    msg_id = msg_id or f"{b.container_id}:{b.stream}:{b.lines[0].ts}"
    ack = await nc.jetstream().publish(log_subject(b.app_id, b.stream), encode(b), headers={"Nats-Msg-Id": msg_id})
    return int(ack.seq)


@pytest.fixture(scope="module")
async def logs(infra: Platform) -> AsyncIterator[ServiceContext]:
    env = infra.service_env("logs")
    ctx = await open_context(
        "logs", MIGRATIONS, CONSUMERS, env=ServiceEnv.from_env(env), settings=Settings.from_env(env)
    )
    task = asyncio.create_task(main(ctx, retention_interval=0.5))
    try:
        yield ctx
    finally:
        ctx.stop.set()
        await asyncio.wait_for(task, timeout=10)
        await close_context(ctx)


async def _client(infra: Platform, service: str) -> Client:
    env = ServiceEnv.from_env(infra.service_env(service))
    return await bus.connect(env.nats_url, env.nats_user, env.nats_password, name=f"test-as-{service}")


@pytest.fixture(scope="module")
async def agent_nc(infra: Platform) -> AsyncIterator[Client]:
    nc = await _client(infra, "runtime-agent")
    try:
        yield nc
    finally:
        await nc.close()


@pytest.fixture(scope="module")
async def api_nc(infra: Platform) -> AsyncIterator[Client]:
    nc = await _client(infra, "api")
    try:
        yield nc
    finally:
        await nc.close()


async def query(nc: Client, app_id: str, **kw: Any) -> LogPage:
    return await bus.request(nc, LOGS_QUERY, LogQuery(app_id=app_id, **kw), LogPage)


async def all_lines(nc: Client, app_id: str, **kw: Any) -> list[LogItem]:
    """Every line of the app, paging forward with the cursor."""
    items: list[LogItem] = []
    cursor: int | None = None
    while True:
        page = await query(nc, app_id, limit=kw.pop("limit", 5000), after_id=cursor, **kw)
        items += page.items
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor


def new_app() -> str:
    return f"app{uuid.uuid4().hex[:10]}"


async def stored(nc: Client, app_id: str, n: int) -> list[LogItem]:
    async def probe() -> list[LogItem]:
        items = await all_lines(nc, app_id)
        return items if len(items) >= n else []

    return await eventually(probe, what=f"{n} lines of {app_id}")


async def consumer_caught_up(ctx: ServiceContext, seq: int) -> bool:
    info = await ctx.js.consumer_info(LOGS_LINES.stream, LOGS_LINES.durable)
    return info.ack_floor.stream_seq >= seq and info.num_ack_pending == 0 and info.num_pending == 0


pytestmark = pytest.mark.integration


async def test_batches_are_stored_in_order_with_their_origin(
    logs: ServiceContext, agent_nc: Client, api_nc: Client
) -> None:
    app = new_app()
    t0 = datetime.now(UTC) - timedelta(seconds=30)
    await publish_batch(agent_nc, batch(app, ["out 1", "out 2"], at=t0))
    await publish_batch(agent_nc, batch(app, ["err 1"], stream="stderr", at=t0 + timedelta(seconds=1)))
    await publish_batch(agent_nc, batch(app, ["out 3"], container="c2", release="rel2", at=t0 + timedelta(seconds=2)))

    items = await stored(api_nc, app, 4)
    assert [(i.stream, i.release_id, i.message) for i in items] == [
        ("stdout", "rel1", "out 1"),
        ("stdout", "rel1", "out 2"),
        ("stderr", "rel1", "err 1"),
        ("stdout", "rel2", "out 3"),
    ]
    assert [i.id for i in items] == sorted(i.id for i in items)
    assert items[0].timestamp == t0.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def test_lines_carry_their_process_and_run_and_are_filtered_by_them(
    logs: ServiceContext, agent_nc: Client, api_nc: Client
) -> None:
    app, run = new_app(), str(uuid.uuid4())
    t0 = datetime.now(UTC) - timedelta(seconds=30)
    await publish_batch(agent_nc, batch(app, ["serving", "served"], at=t0))
    worker = msgspec.structs.replace(
        batch(app, ["job 1"], container="w1", at=t0 + timedelta(seconds=1)), process="worker"
    )
    await publish_batch(agent_nc, worker)
    one_off = batch(app, ["migrating", "done"], container="r1", stream="stderr", at=t0 + timedelta(seconds=2))
    await publish_batch(agent_nc, msgspec.structs.replace(one_off, process="run", run_id=run))

    items = await stored(api_nc, app, 5)
    assert [(i.process, i.run_id, i.message) for i in items] == [
        ("web", "", "serving"),
        ("web", "", "served"),
        ("worker", "", "job 1"),
        ("run", run, "migrating"),
        ("run", run, "done"),
    ]
    assert [i.message for i in (await query(api_nc, app, process="worker", tail=True)).items] == ["job 1"]
    assert [i.message for i in (await query(api_nc, app, run_id=run, tail=True)).items] == ["migrating", "done"]
    # With the other filters, in a search, paged with a cursor.
    page = await query(api_nc, app, process="run", stream="stderr", q="DONE", after_id=items[0].id, limit=1)
    assert [(i.message, i.run_id) for i in page.items] == [("done", run)]
    assert (await query(api_nc, app, process="run", stream="stdout", tail=True)).items == []
    assert (await query(api_nc, app, run_id=str(uuid.uuid4()), tail=True)).items == []
    # The web process's lines after the run's are found too (its span of ids reaches them).
    await publish_batch(agent_nc, batch(app, ["serving again"], at=t0 + timedelta(seconds=3)))
    await stored(api_nc, app, 6)
    assert [i.message for i in (await query(api_nc, app, process="web", tail=True)).items] == [
        "serving",
        "served",
        "serving again",
    ]

    # A redelivered run batch (the agent's republish under another message id) adds nothing.
    again = msgspec.structs.replace(one_off, process="run", run_id=run)
    seq = await publish_batch(agent_nc, again, msg_id=f"again-{run}")
    await eventually(lambda: consumer_caught_up(logs, seq), what="the republished batch to be handled")
    assert len(await all_lines(api_nc, app)) == 6


async def test_a_redelivered_or_republished_batch_adds_nothing(
    logs: ServiceContext, agent_nc: Client, api_nc: Client
) -> None:
    app = new_app()
    b = batch(app, [f"line {i}" for i in range(50)])
    await publish_batch(agent_nc, b)
    await stored(api_nc, app, 50)

    # Same message id: JetStream drops it. A new id (a collector re-reading after a restart,
    # or a redelivery after the dedupe window): the unique line key drops every line.
    await publish_batch(agent_nc, b)
    seq = await publish_batch(agent_nc, b, msg_id="another-id")
    await eventually(lambda: consumer_caught_up(logs, seq), what="the republished batch to be handled")
    items = await all_lines(api_nc, app)
    assert [i.message for i in items] == [f"line {i}" for i in range(50)]


async def test_notices_are_stored_searchable_and_counted_once_per_app(
    logs: ServiceContext, agent_nc: Client, api_nc: Client
) -> None:
    app, other = new_app(), new_app()
    at = datetime.now(UTC)
    lines = [LogLine(ts=docker_ts(at, i), message=f"line {i}") for i in range(10)]
    lines.insert(
        4,
        LogLine(ts=docker_ts(at, 100), message="berth: dropped 90 lines (app wrote faster than 5 lines/s)", dropped=90),
    )
    lines.append(LogLine(ts=docker_ts(at, 200), seq=-1, message="berth: lines lost between a and b", lost=True))
    b = LogBatch(app_id=app, release_id="r", slot="a", container_id=f"{app}-c", stream="stdout", lines=lines)
    await publish_batch(agent_nc, b)
    await publish_batch(agent_nc, batch(other, ["quiet"]))
    await stored(api_nc, app, 12)
    # Redelivered under another message id: nothing is stored or counted twice.
    seq = await publish_batch(agent_nc, b, msg_id="again")
    await eventually(lambda: consumer_caught_up(logs, seq), what="the republished batch to be handled")

    counters = await bus.request(api_nc, LOGS_STATS, GetLogStats(app_id=app), LogStats)
    assert (counters.stored_lines, counters.dropped_lines, counters.lost_gaps) == (10, 90, 1)
    assert (await bus.request(api_nc, LOGS_STATS, GetLogStats(app_id=other), LogStats)).stored_lines == 1
    found = (await query(api_nc, app, q="berth: dropped")).items
    assert [i.message for i in found] == ["berth: dropped 90 lines (app wrote faster than 5 lines/s)"]

    await delete_app_lines(logs.pool, app)
    assert (await bus.request(api_nc, LOGS_STATS, GetLogStats(app_id=app), LogStats)).stored_lines == 0


async def test_a_100_kib_line_round_trips_byte_for_byte(logs: ServiceContext, agent_nc: Client, api_nc: Client) -> None:
    app = new_app()
    big = "".join(chr(0x41 + i % 26) for i in range(100 * 1024 - 8)) + "é✓\U0001f680"
    await publish_batch(agent_nc, batch(app, ["before", big, "after"]))
    items = await stored(api_nc, app, 3)
    assert [i.message for i in items] == ["before", big, "after"]


async def test_search_returns_only_matching_lines_and_takes_wildcards_literally(
    logs: ServiceContext, agent_nc: Client, api_nc: Client
) -> None:
    app = new_app()
    await publish_batch(
        agent_nc,
        batch(
            app, ["GET /users 200", "GET /orders 500", "payment FAILED for order 7", "100% done", "1000 done", "a_b"]
        ),
    )
    await stored(api_nc, app, 6)
    assert [i.message for i in (await query(api_nc, app, q="failed")).items] == ["payment FAILED for order 7"]
    assert [i.message for i in (await query(api_nc, app, q="order")).items] == [
        "GET /orders 500",
        "payment FAILED for order 7",
    ]
    assert [i.message for i in (await query(api_nc, app, q="100%")).items] == ["100% done"]
    assert [i.message for i in (await query(api_nc, app, q="a_b")).items] == ["a_b"]
    assert (await query(api_nc, app, q="nothing like this")).items == []


async def test_records_of_berths_own_probes_are_left_out_when_asked(
    logs: ServiceContext, agent_nc: Client, api_nc: Client
) -> None:
    from berth_shared.probes import PROBE_USER_AGENT

    app = new_app()
    probe = f'10.0.0.1 "GET / HTTP/1.1" 200 "{PROBE_USER_AGENT}"'
    user = '10.0.0.1 "GET / HTTP/1.1" 200 "curl/8.5.0"'
    await publish_batch(agent_nc, batch(app, [probe, user, "berth-health/1 is only a word here"]))
    await publish_batch(agent_nc, batch(app, [f"probe from {PROBE_USER_AGENT} failed"], stream="stderr"))
    # The router's own lines are never an app's record of a probe.
    await publish_batch(agent_nc, batch(app, [f"routing: 503 for {PROBE_USER_AGENT}"], stream="proxy"))
    everything = [i.message for i in await stored(api_nc, app, 5)]
    assert probe in everything and len(everything) == 5
    shown = [i.message for i in await all_lines(api_nc, app, include_probes=False)]
    assert sorted(shown) == sorted([user, "berth-health/1 is only a word here", f"routing: 503 for {PROBE_USER_AGENT}"])
    tail = [i.message for i in (await query(api_nc, app, tail=True, limit=2, include_probes=False)).items]
    assert probe not in tail and len(tail) == 2


async def test_filters_by_stream_release_and_time_and_pages_with_cursors(
    logs: ServiceContext, agent_nc: Client, api_nc: Client
) -> None:
    app = new_app()
    t0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    await publish_batch(agent_nc, batch(app, [f"old {i}" for i in range(5)], at=t0, release="r1"))
    await publish_batch(agent_nc, batch(app, ["oops"], stream="stderr", at=t0 + timedelta(minutes=1), release="r1"))
    await publish_batch(
        agent_nc, batch(app, [f"new {i}" for i in range(5)], at=t0 + timedelta(minutes=2), container="c2", release="r2")
    )
    await stored(api_nc, app, 11)

    assert [i.message for i in (await query(api_nc, app, stream="stderr")).items] == ["oops"]
    assert [i.message for i in (await query(api_nc, app, release_id="r2")).items] == [f"new {i}" for i in range(5)]
    window = await query(
        api_nc, app, since=(t0 + timedelta(seconds=30)).isoformat(), until=(t0 + timedelta(minutes=2)).isoformat()
    )
    assert [i.message for i in window.items] == ["oops"]

    first = await query(api_nc, app, limit=4)
    assert [i.message for i in first.items] == ["old 0", "old 1", "old 2", "old 3"]
    assert first.next_cursor == first.items[-1].id
    rest = await query(api_nc, app, limit=10, after_id=first.next_cursor)
    assert [i.message for i in rest.items] == ["old 4", "oops", *[f"new {i}" for i in range(5)]]
    assert rest.next_cursor is None

    tail = await query(api_nc, app, limit=3, tail=True)
    assert [i.message for i in tail.items] == ["new 2", "new 3", "new 4"]
    older = await query(api_nc, app, limit=3, tail=True, before_id=tail.prev_cursor)
    assert [i.message for i in older.items] == ["oops", "new 0", "new 1"]

    lagging = await query(api_nc, app, limit=2, after_id=first.next_cursor, lag_cap=3)
    assert lagging.lag == 4  # counted up to lag_cap + 1


async def test_invalid_queries_are_refused_naming_the_field(logs: ServiceContext, api_nc: Client) -> None:
    with pytest.raises(ValidationFailed) as bad_limit:
        await query(api_nc, "x", limit=0)
    assert bad_limit.value.details[0].field == "limit"
    with pytest.raises(ValidationFailed) as bad_since:
        await query(api_nc, "x", since="yesterday")
    assert bad_since.value.details[0].field == "since"


async def lines_in_db(ctx: ServiceContext, app_id: str) -> list[str]:
    rows = await ctx.pool.fetch("SELECT message FROM lines WHERE app_id = $1 ORDER BY id", app_id)
    return [r["message"] for r in rows]


async def test_retention_removes_lines_older_than_the_age_limit(
    logs: ServiceContext, agent_nc: Client, api_nc: Client
) -> None:
    app = new_app()
    now = datetime.now(UTC)
    await publish_batch(agent_nc, batch(app, ["ten days old"], at=now - timedelta(days=10)))
    await publish_batch(agent_nc, batch(app, ["two days old"], at=now - timedelta(days=2), container="c2"))
    await publish_batch(agent_nc, batch(app, ["fresh"], container="c3"))

    # The default of 7 days applies without any setting: the retention loop removes the oldest.
    async def only_recent() -> bool:
        return await lines_in_db(logs, app) == ["two days old", "fresh"]

    await eventually(only_recent, what="the 10-day-old line to be removed by the default retention")

    got = await bus.request(api_nc, LOGS_RETENTION_SET, SetRetention(app_id=app, max_age_days=1), Retention)
    assert (got.max_age_days, got.max_lines, got.custom_age, got.custom_lines) == (1, 1_000_000, True, False)

    async def only_fresh() -> bool:
        return await lines_in_db(logs, app) == ["fresh"]

    await eventually(only_fresh, what="the 2-day-old line to go under a 1-day limit")


async def test_retention_keeps_only_the_newest_lines_beyond_the_line_limit(
    logs: ServiceContext, agent_nc: Client, api_nc: Client
) -> None:
    app, other = new_app(), new_app()
    await publish_batch(agent_nc, batch(app, [f"line {i}" for i in range(12)]))
    await publish_batch(agent_nc, batch(other, [f"other {i}" for i in range(12)], container="c9"))
    await stored(api_nc, app, 12)
    await stored(api_nc, other, 12)

    await bus.request(api_nc, LOGS_RETENTION_SET, SetRetention(app_id=app, max_lines=5), Retention)
    shown = await bus.request(api_nc, LOGS_RETENTION_GET, GetRetention(app_id=app), Retention)
    assert (shown.max_lines, shown.max_age_days, shown.custom_lines) == (5, 7, True)

    async def newest_five() -> bool:
        return await lines_in_db(logs, app) == [f"line {i}" for i in range(7, 12)]

    await eventually(newest_five, what="only the newest 5 lines to remain")
    assert len(await lines_in_db(logs, other)) == 12


async def test_retention_settings_are_validated(logs: ServiceContext, api_nc: Client) -> None:
    with pytest.raises(ValidationFailed) as bad:
        await bus.request(api_nc, LOGS_RETENTION_SET, SetRetention(app_id="x", max_lines=0), Retention)
    assert bad.value.details[0].field == "maxLines"


async def test_a_deleted_apps_late_batches_are_dropped(logs: ServiceContext, agent_nc: Client, api_nc: Client) -> None:
    app = new_app()
    await publish_batch(agent_nc, batch(app, ["before delete"]))
    await stored(api_nc, app, 1)
    await delete_app_lines(logs.pool, app)
    seq = await publish_batch(agent_nc, batch(app, ["late line"], container="c2"))
    await eventually(lambda: consumer_caught_up(logs, seq), what="the late batch to be handled")
    assert await lines_in_db(logs, app) == []


async def test_a_poison_batch_is_terminated_and_the_rest_are_stored(
    logs: ServiceContext, agent_nc: Client, api_nc: Client
) -> None:
    app = new_app()
    await agent_nc.jetstream().publish(log_subject(app, "stdout"), b'{"not": "a batch"}')
    await publish_batch(agent_nc, batch(app, ["after the poison"]))
    items = await stored(api_nc, app, 1)
    assert [i.message for i in items] == ["after the poison"]


async def test_a_quiet_apps_line_is_stored_before_a_floods_backlog(
    logs: ServiceContext, agent_nc: Client, api_nc: Client
) -> None:
    """A flood's batches come on the bulk lane; a quiet app's line published after 120,000 of
    them is stored long before they all are, and then every flood line is stored too."""
    flood, quiet = new_app(), new_app()
    at = datetime.now(UTC) - timedelta(minutes=5)
    js = agent_nc.jetstream()
    published = []
    for k in range(60):
        b = batch(flood, [f"flood {k} line {i}" for i in range(2000)], at=at + timedelta(seconds=k))
        msg_id = f"{b.container_id}:{b.stream}:{b.lines[0].ts}"
        published.append(
            js.publish(log_subject(flood, "stdout", bulk=True), encode(b), headers={"Nats-Msg-Id": msg_id})
        )
    await asyncio.gather(*published)
    await publish_batch(agent_nc, batch(quiet, ["tick"]))

    await stored(api_nc, quiet, 1)
    flood_then = (await bus.request(api_nc, LOGS_STATS, GetLogStats(app_id=flood), LogStats)).stored_lines
    assert flood_then < 120_000

    async def flood_stored() -> bool:
        counters = await bus.request(api_nc, LOGS_STATS, GetLogStats(app_id=flood), LogStats)
        return counters.stored_lines == 120_000

    await eventually(flood_stored, within=300, what="every flood line stored")
