"""Log collection against real Docker and NATS: what containers write arrives on BERTH_LOGS.

The lines are read back from the stream itself (an ephemeral pull consumer, as the API's NATS
user), so what is checked is exactly what the logs service would receive, duplicates included.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import itertools
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from agent_harness import Harness, eventually, release
from berth_agent.containers import decide as container_decide
from berth_agent.logs.decide_batch import format_nanos
from berth_agent.logs.decide_frames import Position, ts_nanos
from berth_agent.logs.decide_skips import BEHIND_NANOS
from berth_agent.logs.run import READ_FROM_ENV, Collector
from berth_shared.contracts.base import decode
from berth_shared.contracts.logs import LogBatch, LogLine, app_log_subjects, log_subject
from berth_shared.contracts.releases import ReleaseLive, ReleaseStep
from berth_shared.streams import LOGS
from berth_testing import build_busybox_image
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api as js_api

pytestmark = pytest.mark.integration

CHATTY = r"""
i=0; while [ $i -lt 20 ]; do echo "out $i"; i=$((i+1)); done
i=0; while [ $i -lt 5 ]; do echo "err $i" >&2; i=$((i+1)); done
head -c 102400 /dev/zero | tr '\0' x; echo
printf 'bad \377 byte\n'
exec httpd -f -p 8080 -h /www
"""

# Counts on stdout every 20 ms (every 10th number also on stderr); says goodbye on SIGTERM.
COUNTER = r"""
httpd -p 8080 -h /www
i=0
trap 'echo "bye $i"; exit 0' TERM
while true; do
  echo "n $i"
  if [ $((i % 10)) -eq 0 ]; then echo "e $i" >&2; fi
  i=$((i+1))
  usleep 20000
done
"""


# 400,000 lines at start as fast as the engine takes them (~180,000 lines/s here), then serves.
FLOOD_LINES = 400_000
FLOOD = f"awk 'BEGIN{{for(i=0;i<{FLOOD_LINES};i++)print \"f \" i}}'; exec httpd -f -p 8080 -h /www"
# 2,000,000 lines (about 180 MB of json-file log, more than the ring) as fast as the engine goes.
TORRENT_LINES = 2_000_000
TORRENT = f"httpd -p 8080 -h /www; awk 'BEGIN{{for(i=0;i<{TORRENT_LINES};i++)print \"t \" i}}'; exec sleep 3600"

# 50 lines, then (once /tmp/go exists) more than the engine's whole log ring (2 x 50 MB).
OVERFLOW = r"""
httpd -p 8080 -h /www
i=0; while [ $i -lt 50 ]; do echo "p $i"; i=$((i+1)); done
while [ ! -f /tmp/go ]; do usleep 50000; done
awk 'BEGIN{pad = sprintf("%150s", ""); for(i=0;i<700000;i++) print "o " i pad; print "overflowed"}'
exec sleep 3600
"""

# Nothing until /tmp/go exists (so its collector saves no cursor), then more than the whole ring.
LATE = r"""
httpd -p 8080 -h /www
while [ ! -f /tmp/go ]; do usleep 50000; done
awk 'BEGIN{pad = sprintf("%150s", ""); for(i=0;i<700000;i++) print "l " i pad; print "overflowed"}'
exec sleep 3600
"""


# 6,000 numbered lines at ~2,000 lines/s (many rotations of a small ring), a line of 40,000
# characters (split by the engine into three entries), then "done".
ROTATING = r"""
httpd -p 8080 -h /www
awk 'BEGIN{for (s = 0; s < 60; s++) {
    for (i = 0; i < 100; i++) print "r " s * 100 + i; fflush(); system("usleep 50000") }
  long = sprintf("%40000s", ""); gsub(/ /, "y", long); print long; print "done"}'
exec sleep 3600
"""

# A line, a pause (its collector flushes it), then far more than a small ring holds at once.
BURST_AFTER_GO = r"""
httpd -p 8080 -h /www
while [ ! -f /tmp/go ]; do usleep 50000; done
echo "o start"
usleep 700000
awk 'BEGIN{for (i = 0; i < 3000; i++) print "o " i; print "overflowed"}'
exec sleep 3600
"""

# Five lines; on SIGTERM last words without a newline.
LAST_WORDS = r"""
httpd -p 8080 -h /www
trap 'printf "last words"; exit 0' TERM
i=0; while [ $i -lt 5 ]; do echo "w $i"; i=$((i+1)); done
while true; do usleep 20000; done
"""

TTY = r"""
httpd -p 8080 -h /www
i=0; while [ $i -lt 20 ]; do echo "t $i"; i=$((i+1)); done
echo "to stderr" >&2
exec sleep 3600
"""


@pytest.fixture(scope="module")
def log_images() -> dict[str, str]:
    return {
        "rotating": build_busybox_image("berth-test/logs:rotating", "rotating\n", ["/bin/sh", "-c", ROTATING]),
        "burst": build_busybox_image("berth-test/logs:burst", "burst\n", ["/bin/sh", "-c", BURST_AFTER_GO]),
        "last-words": build_busybox_image("berth-test/logs:last-words", "last\n", ["/bin/sh", "-c", LAST_WORDS]),
        "tty": build_busybox_image("berth-test/logs:tty", "tty\n", ["/bin/sh", "-c", TTY]),
        "torrent": build_busybox_image("berth-test/logs:torrent", "torrent\n", ["/bin/sh", "-c", TORRENT]),
        "overflow": build_busybox_image("berth-test/logs:overflow", "overflow\n", ["/bin/sh", "-c", OVERFLOW]),
        "late": build_busybox_image("berth-test/logs:late", "late\n", ["/bin/sh", "-c", LATE]),
        "flood": build_busybox_image("berth-test/logs:flood", "flood\n", ["/bin/sh", "-c", FLOOD]),
        "chatty": build_busybox_image("berth-test/logs:chatty", "chatty\n", ["/bin/sh", "-c", CHATTY]),
        "counter": build_busybox_image("berth-test/logs:counter", "counter\n", ["/bin/sh", "-c", COUNTER]),
    }


Readers = Callable[[str], Awaitable["LogReader"]]


@pytest.fixture
async def readers(harness: Harness) -> AsyncIterator[Readers]:
    """``await readers(app_id)``: a started LogReader, unsubscribed afterwards (an idle pull
    subscription would hold up the connection's drain)."""
    started: list[LogReader] = []

    async def start(app_id: str) -> LogReader:
        reader = LogReader(harness.observer, app_id)
        await reader.start()
        started.append(reader)
        return reader

    yield start
    for reader in started:
        with contextlib.suppress(Exception):
            await reader.sub.unsubscribe()


@dataclass
class Published:
    subject: str
    msg_id: str
    batch: LogBatch


@dataclass
class LogReader:
    """Every LogBatch of one app stored in BERTH_LOGS, in stream order."""

    nc: Client
    app_id: str
    published: list[Published] = field(default_factory=list)
    sub: Any = None

    async def start(self) -> None:
        config = js_api.ConsumerConfig(
            ack_policy=js_api.AckPolicy.NONE, deliver_policy=js_api.DeliverPolicy.ALL, inactive_threshold=120.0
        )
        self.sub = await self.nc.jetstream().pull_subscribe(
            app_log_subjects(self.app_id), stream=LOGS.name, config=config
        )

    async def poll(self) -> None:
        """Read what is stored now (up to a few thousand batches: a live app never stops adding)."""
        for _ in range(16):
            try:
                msgs = await self.sub.fetch(256, timeout=0.3)
            except (TimeoutError, NatsTimeout):
                return
            for msg in msgs:
                msg_id = (msg.headers or {}).get("Nats-Msg-Id", "")
                self.published.append(Published(msg.subject, msg_id, decode(msg.data, LogBatch)))
            if len(msgs) < 256:
                return

    def lines(self, stream: str | None = None, release_id: str | None = None) -> list[tuple[LogBatch, LogLine]]:
        return [
            (p.batch, line)
            for p in self.published
            if (stream is None or p.batch.stream == stream) and (release_id is None or p.batch.release_id == release_id)
            for line in p.batch.lines
        ]

    def messages(self, stream: str | None = None, release_id: str | None = None) -> list[str]:
        return [line.message for _, line in self.lines(stream, release_id)]

    async def wait(self, check: Any, timeout: float = 30.0) -> None:
        async def polled() -> bool:
            await self.poll()
            return bool(check())

        await eventually(polled, timeout=timeout, every=0.05)


def counted(messages: list[str], prefix: str) -> list[int]:
    return [int(m.split()[1]) for m in messages if re.fullmatch(rf"{prefix} \d+", m)]


def in_order(lines: list[tuple[LogBatch, LogLine]]) -> bool:
    positions = [Position.of(line.ts, line.seq) for _, line in lines]
    return all(a < b for a, b in itertools.pairwise(positions))


async def deploy(harness: Harness, app_id: str, image: str) -> ReleaseLive:
    rel = release(image)
    await harness.api.set_release(app_id, rel)
    outcome = await harness.events.wait_outcome(rel.release_id)
    assert isinstance(outcome, ReleaseLive), outcome
    return outcome


async def test_lines_arrive_tagged_in_order_per_stream_long_and_binary_included(
    harness: Harness, log_images: dict[str, str], readers: Readers
) -> None:
    app = harness.new_app("chatty")
    reader = await readers(app.app_id)
    await harness.start_agent()
    live = await deploy(harness, app.app_id, log_images["chatty"])

    await reader.wait(lambda: "bad \ufffd byte" in reader.messages("stdout") and len(reader.messages("stderr")) >= 5)
    await asyncio.sleep(0.5)  # anything extra (a duplicate) would show up now
    await reader.poll()

    long_line = "x" * 102_400
    assert reader.messages("stdout") == [*(f"out {i}" for i in range(20)), long_line, "bad \ufffd byte"]
    assert reader.messages("stderr") == [f"err {i}" for i in range(5)]
    for p in reader.published:
        b = p.batch
        assert (b.app_id, b.release_id, b.slot, b.container_id, b.process, b.run_id) == (
            app.app_id,
            live.release_id,
            live.slot,
            live.container_id,
            "web",
            "",
        )
        assert p.subject == log_subject(app.app_id, b.stream)
        assert p.msg_id.startswith(f"{live.container_id}:{b.stream}:{b.lines[0].ts}")
    assert in_order(reader.lines("stdout")) and in_order(reader.lines("stderr"))
    # The collector saved where it stands, per stream.
    pool = harness.agents[0][0].pool
    rows = await pool.fetch(
        "SELECT stream, app_id FROM log_cursors WHERE instance = $1 AND container_id = $2",
        harness.instance,
        live.container_id,
    )
    assert sorted((r["stream"], r["app_id"]) for r in rows) == [("stderr", app.app_id), ("stdout", app.app_id)]


async def test_the_engines_api_is_read_when_reading_from_disk_is_off(
    harness: Harness, log_images: dict[str, str], readers: Readers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(READ_FROM_ENV, "engine")
    reader, live = await deployed(harness, readers, log_images["chatty"], "chatty")
    await reader.wait(lambda: "bad \ufffd byte" in reader.messages("stdout") and len(reader.messages("stderr")) >= 5)
    await asyncio.sleep(0.5)
    await reader.poll()

    assert collector_of(harness, live.container_id).reading == "engine"
    assert reader.messages("stdout") == [*(f"out {i}" for i in range(20)), "x" * 102_400, "bad \ufffd byte"]
    assert reader.messages("stderr") == [f"err {i}" for i in range(5)]


async def test_a_redeploy_keeps_every_line_of_the_old_release(
    harness: Harness, log_images: dict[str, str], readers: Readers
) -> None:
    app = harness.new_app("counter")
    reader = await readers(app.app_id)
    await harness.start_agent()
    first = await deploy(harness, app.app_id, log_images["counter"])
    await reader.wait(lambda: len(counted(reader.messages("stdout", first.release_id), "n")) >= 20)

    second = await deploy(harness, app.app_id, log_images["counter"])
    assert second.slot != first.slot
    await harness.events.wait_for(ReleaseStep, release_id=second.release_id, step="old.stopped")  # after live
    assert not await harness.containers(app.app_id, first.release_id)  # the old container is gone

    # Its lines up to its last words (printed on SIGTERM, just before removal) were all published.
    await reader.wait(lambda: any(m.startswith("bye ") for m in reader.messages("stdout", first.release_id)), 10)
    old = reader.messages("stdout", first.release_id)
    numbers = counted(old, "n")
    assert numbers == list(range(len(numbers)))
    assert old[-1] == f"bye {len(numbers)}"
    assert counted(reader.messages("stderr", first.release_id), "e") == list(range(0, len(numbers), 10))
    assert {b.slot for b, _ in reader.lines(release_id=first.release_id)} == {first.slot}

    # The new release's lines carry its id and slot, from its first line on.
    await reader.wait(lambda: len(counted(reader.messages("stdout", second.release_id), "n")) >= 10)
    new = counted(reader.messages("stdout", second.release_id), "n")
    assert new == list(range(len(new)))
    assert {(b.slot, b.container_id) for b, _ in reader.lines(release_id=second.release_id)} == {
        (second.slot, second.container_id)
    }
    # The removed container's cursor is forgotten.
    pool = harness.agents[0][0].pool

    async def forgotten() -> bool:
        left = await pool.fetchval("SELECT count(*) FROM log_cursors WHERE container_id = $1", first.container_id)
        return left == 0

    await eventually(forgotten, timeout=10)


async def test_an_agent_restart_resumes_without_gap_or_duplicate(
    harness: Harness, log_images: dict[str, str], readers: Readers
) -> None:
    app = harness.new_app("counter")
    reader = await readers(app.app_id)
    agent = await harness.start_agent()
    live = await deploy(harness, app.app_id, log_images["counter"])
    await reader.wait(lambda: len(counted(reader.messages("stdout"), "n")) >= 30)

    await harness.kill_agent(agent)  # mid-stream: the container goes on counting
    await reader.poll()
    before = counted(reader.messages("stdout"), "n")
    container = harness.docker.containers.container(live.container_id)

    async def written_while_down() -> bool:
        # ``tail`` counts both streams before Docker keeps stdout: take a few, use the last count.
        written = counted([m.strip() for m in await container.log(stdout=True, tail=5)], "n")
        return bool(written) and written[-1] >= before[-1] + 50  # a second of lines nobody collected

    await eventually(written_while_down, timeout=20)
    await reader.poll()
    assert counted(reader.messages("stdout"), "n") == before  # nothing published while down

    await harness.start_agent()
    await reader.wait(lambda: len(counted(reader.messages("stdout"), "n")) >= len(before) + 100)
    await asyncio.sleep(0.5)
    await reader.poll()

    numbers = counted(reader.messages("stdout"), "n")
    assert numbers == list(range(len(numbers)))  # no gap, no duplicate
    errors = counted(reader.messages("stderr"), "e")
    assert errors == list(range(0, errors[-1] + 1, 10))
    assert in_order(reader.lines("stdout")) and in_order(reader.lines("stderr"))
    identities = [(b.container_id, b.stream, line.ts, line.seq) for b, line in reader.lines()]
    assert len(identities) == len(set(identities))
    assert not [line.message for _, line in reader.lines() if line.lost or line.dropped]  # nothing falsely told


DROPPED = re.compile(r"berth: dropped (\d+) lines? \(app wrote faster than 5000 lines/s\)")


async def test_a_flood_over_the_budget_is_dropped_told_and_every_line_accounted_for(
    harness: Harness, log_images: dict[str, str], readers: Readers
) -> None:
    app = harness.new_app("flood")
    reader = await readers(app.app_id)
    await harness.start_agent()
    await deploy(harness, app.app_id, log_images["flood"])

    def accounted() -> int:
        kept = len(counted(reader.messages("stdout"), "f"))
        return kept + sum(line.dropped for _, line in reader.lines("stdout"))

    await reader.wait(lambda: accounted() >= FLOOD_LINES, timeout=120)
    kept = counted(reader.messages("stdout"), "f")
    notices = [line for _, line in reader.lines("stdout") if line.dropped]
    # Nothing vanished silently: each line was published or counted by a notice, once.
    assert accounted() == FLOOD_LINES
    assert kept == sorted(set(kept))
    assert kept[:20_000] == list(range(20_000))  # the burst is kept whole
    assert len(kept) < FLOOD_LINES // 2  # the rest was over the 5,000 lines/s budget
    assert notices and all((m := DROPPED.fullmatch(n.message)) and int(m.group(1)) == n.dropped for n in notices), [
        n.message for n in notices
    ]
    assert not [line for _, line in reader.lines() if line.lost]


async def test_lines_rotated_away_while_the_agent_was_down_are_told_as_lost(
    harness: Harness, log_images: dict[str, str], readers: Readers
) -> None:
    app = harness.new_app("overflow")
    reader = await readers(app.app_id)
    agent = await harness.start_agent()
    live = await deploy(harness, app.app_id, log_images["overflow"])
    await reader.wait(lambda: counted(reader.messages("stdout"), "p") == list(range(50)))

    await harness.kill_agent(agent)
    container = harness.docker.containers.container(live.container_id)
    await (await container.exec(["touch", "/tmp/go"])).start(detach=True)

    async def overflowed() -> bool:
        return any("overflowed" in m for m in await container.log(stdout=True, tail=1))

    await eventually(overflowed, timeout=120, every=0.5)  # the engine rotated past the cursor meanwhile

    await harness.start_agent()
    await reader.wait(lambda: any(line.lost for _, line in reader.lines("stdout")), timeout=120)
    lines = [line for _, line in reader.lines("stdout")]
    lost = [line for line in lines if line.lost]
    assert len(lost) == 1, [line.message for line in lost]
    notice = lost[0]
    last_before = next(line for line in lines if line.message == "p 49")
    first_after = lines[lines.index(notice) + 1]
    assert notice.message == (
        f"berth: lines lost between {last_before.ts} and {first_after.ts} "
        "(the engine rotated its log before Berth read them)"
    )
    assert first_after.message.startswith("o ") and int(first_after.message.split()[1]) > 0


async def test_a_new_containers_lines_rotated_away_before_its_collector_began_are_told(
    harness: Harness, log_images: dict[str, str], readers: Readers
) -> None:
    """A fresh container (no cursor) whose first files the engine rotated away before its
    collector read anything: the start of the torrent on a loaded machine, made certain here by
    starting the collector only after the container wrote past the ring."""
    app = harness.new_app("late")
    reader = await readers(app.app_id)
    agent = await harness.start_agent()
    live = await deploy(harness, app.app_id, log_images["late"])
    pool = harness.agents[-1][0].pool
    cursors = "SELECT count(*) FROM log_cursors WHERE container_id = $1"
    assert await pool.fetchval(cursors, live.container_id) == 0  # it wrote nothing yet
    await harness.kill_agent(agent)

    container = harness.docker.containers.container(live.container_id)
    await (await container.exec(["touch", "/tmp/go"])).start(detach=True)

    async def overflowed() -> bool:
        return any("overflowed" in m for m in await container.log(stdout=True, tail=1))

    await eventually(overflowed, timeout=120, every=0.5)  # the engine rotated its first lines away
    await asyncio.sleep(2 * BEHIND_NANOS / 1e9)  # its collector reads behind, even on a fast machine
    started = format_nanos(ts_nanos((await container.show())["State"]["StartedAt"]))

    await harness.start_agent()  # its collector of the container starts with no cursor
    await reader.wait(lambda: any(line.lost for _, line in reader.lines("stdout")), timeout=120)
    lines = [line for _, line in reader.lines("stdout")]
    lost = [line for line in lines if line.lost]
    assert len(lost) == 1, [line.message for line in lost]
    notice = lost[0]
    first = min((line for line in lines if not line.lost and not line.dropped), key=lambda ln: ln.ts)
    assert first.message.startswith("l ") and int(first.message.split()[1]) > 0  # the start is gone
    assert notice.message == (
        f"berth: lines may have been lost between {started} and {first.ts} "
        "(the engine rotated its log while Berth read it behind)"
    )
    assert (notice.ts, notice.seq) == (first.ts, -1)  # stored before the first line read


async def test_a_flood_faster_than_the_agent_reads_is_accounted_for_or_told(
    harness: Harness, log_images: dict[str, str], readers: Readers
) -> None:
    """Whether the agent keeps up with the engine depends on the machine; either way no line
    vanishes silently: each is kept or counted as dropped, or a notice says lines may be lost."""
    app = harness.new_app("torrent")
    reader = await readers(app.app_id)
    await harness.start_agent()
    live = await deploy(harness, app.app_id, log_images["torrent"])
    container = harness.docker.containers.container(live.container_id)

    async def last_written() -> str | None:
        tail = await container.log(stdout=True, tail=1, timestamps=True)
        return tail[-1].split(" ", 1)[0] if tail and tail[-1].endswith(f"t {TORRENT_LINES - 1}\n") else None

    last_ts = await eventually(last_written, timeout=180, every=0.5)
    # The agent has read to the end: the last line is published, or a notice counting it.
    last = Position.of(last_ts, 0)
    await reader.wait(lambda: any(Position.of(ln.ts, ln.seq) >= last for _, ln in reader.lines("stdout")), 180)

    lines = [line for _, line in reader.lines("stdout")]
    kept = counted([line.message for line in lines], "t")
    dropped = sum(line.dropped for line in lines)
    told = [line.message for line in lines if line.lost]
    assert kept == sorted(set(kept)) and dropped > 0
    if len(kept) + dropped < TORRENT_LINES:
        assert told, f"{TORRENT_LINES - len(kept) - dropped} lines vanished without a word"
        assert all(m.startswith("berth: lines may have been lost between ") for m in told), told
    else:
        assert (len(kept) + dropped, told) == (TORRENT_LINES, [])


# -- the json-file log read from disk (ADR 0027) ------------------------------------------------


def small_ring(monkeypatch: pytest.MonkeyPatch, max_size: str, max_file: int) -> None:
    """The agent's containers get a json-file ring of ``max_file`` files of ``max_size``."""
    monkeypatch.setattr(container_decide, "LOG_MAX_SIZE", max_size)
    monkeypatch.setattr(container_decide, "LOG_MAX_FILE", str(max_file))


def collector_of(harness: Harness, container_id: str) -> Collector:
    return harness.agent_objects[-1].logs.collectors[container_id]


def lost_lines(reader: LogReader) -> list[LogLine]:
    return [line for _, line in reader.lines() if line.lost]


async def deployed(harness: Harness, readers: Readers, image: str, name: str) -> tuple[LogReader, ReleaseLive]:
    """An app named ``name`` live on ``image`` under a started agent, its log reader started first."""
    app = harness.new_app(name)
    reader = await readers(app.app_id)
    await harness.start_agent()
    return reader, await deploy(harness, app.app_id, image)


async def test_lines_written_across_many_rotations_are_read_from_disk_whole_in_order_once(
    harness: Harness, log_images: dict[str, str], readers: Readers, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_ring(monkeypatch, "20k", 5)
    reader, live = await deployed(harness, readers, log_images["rotating"], "rotating")
    await reader.wait(lambda: "done" in reader.messages("stdout"), timeout=60)
    await asyncio.sleep(0.5)  # anything extra (a duplicate) would show up now
    await reader.poll()

    info = await harness.docker.containers.container(live.container_id).show()
    assert len(glob.glob(f"{info['LogPath']}.*")) == 4  # the ring went round (each file holds ~250 lines)
    assert collector_of(harness, live.container_id).reading == "disk"
    messages = reader.messages("stdout")
    assert messages == [*(f"r {i}" for i in range(6000)), "y" * 40_000, "done"]
    assert in_order(reader.lines("stdout")) and not lost_lines(reader)
    identities = [(b.container_id, b.stream, line.ts, line.seq) for b, line in reader.lines()]
    assert len(identities) == len(set(identities))


async def test_an_agent_restarted_after_rotations_resumes_from_the_oldest_file_without_gap_or_duplicate(
    harness: Harness, log_images: dict[str, str], readers: Readers, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_ring(monkeypatch, "2k", 40)  # ~27 lines a file: a rotation every half second
    app = harness.new_app("counter")
    reader = await readers(app.app_id)
    agent = await harness.start_agent()
    live = await deploy(harness, app.app_id, log_images["counter"])
    await reader.wait(lambda: len(counted(reader.messages("stdout"), "n")) >= 30)
    log_path = (await harness.docker.containers.container(live.container_id).show())["LogPath"]

    await harness.kill_agent(agent)
    await reader.poll()
    before = counted(reader.messages("stdout"), "n")
    rotated_before = len(glob.glob(f"{log_path}.*"))
    # A few rotations while nobody reads (the ring holds them all).
    await eventually(lambda: len(glob.glob(f"{log_path}.*")) >= rotated_before + 4, timeout=20)

    await harness.start_agent()
    await reader.wait(lambda: len(counted(reader.messages("stdout"), "n")) >= len(before) + 250, timeout=30)
    await asyncio.sleep(0.5)
    await reader.poll()

    assert collector_of(harness, live.container_id).reading == "disk"
    numbers = counted(reader.messages("stdout"), "n")
    assert numbers == list(range(len(numbers)))  # no gap, no duplicate
    errors = counted(reader.messages("stderr"), "e")
    assert errors == list(range(0, errors[-1] + 1, 10))
    identities = [(b.container_id, b.stream, line.ts, line.seq) for b, line in reader.lines()]
    assert len(identities) == len(set(identities))
    assert not lost_lines(reader)


async def test_files_rotated_away_while_the_reader_was_held_up_are_told_as_lost(
    harness: Harness, log_images: dict[str, str], readers: Readers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The collector does not read while a publish waits for its ack; meanwhile the engine rotates
    more than the ring holds past the file it holds open: told, the rest read in order."""
    small_ring(monkeypatch, "10k", 2)  # ~270 lines in all
    held = asyncio.Event()
    held.set()
    publish_and_save = Collector._publish_and_save

    async def slow_acks(self: Collector, *args: Any) -> None:
        await held.wait()
        await publish_and_save(self, *args)

    monkeypatch.setattr(Collector, "_publish_and_save", slow_acks)
    reader, live = await deployed(harness, readers, log_images["burst"], "burst")
    container = harness.docker.containers.container(live.container_id)

    held.clear()
    await (await container.exec(["touch", "/tmp/go"])).start(detach=True)

    async def overflowed() -> bool:
        return any("overflowed" in m for m in await container.log(stdout=True, tail=1))

    await eventually(overflowed, timeout=30, every=0.1)  # written while the reader was held up
    held.set()
    await reader.wait(lambda: "overflowed" in reader.messages("stdout"), timeout=30)
    await asyncio.sleep(0.5)
    await reader.poll()

    assert collector_of(harness, live.container_id).reading == "disk"
    lines = [line for _, line in reader.lines("stdout")]
    assert lines[0].message == "o start"
    lost = [line for line in lines if line.lost]
    assert len(lost) == 1, [line.message for line in lost]
    at = lines.index(lost[0])
    first_after = lines[at + 1]
    assert lost[0].message == (
        f"berth: lines may have been lost between {lines[at - 1].ts} and {first_after.ts} "
        "(the engine rotated its log while Berth read it behind)"
    )
    # What the held file had, then the gap, then the rest in order.
    before, after = counted([ln.message for ln in lines[:at]], "o"), counted([ln.message for ln in lines[at:]], "o")
    assert before == list(range(len(before))) and after == list(range(after[0], 3000)) and after[0] > len(before)
    assert lines[-1].message == "overflowed" and in_order(reader.lines("stdout"))


async def test_a_tty_containers_json_file_log_is_read_from_disk(
    harness: Harness, log_images: dict[str, str], readers: Readers, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = container_decide.container_config
    monkeypatch.setattr(container_decide, "container_config", lambda *a, **k: config(*a, **k) | {"Tty": True})
    reader, live = await deployed(harness, readers, log_images["tty"], "tty")
    assert (await harness.docker.containers.container(live.container_id).show())["Config"]["Tty"]
    await reader.wait(lambda: len(reader.messages("stdout")) >= 21)
    await asyncio.sleep(0.3)
    await reader.poll()

    assert collector_of(harness, live.container_id).reading == "disk"
    # A terminal ends lines with \r\n; its stderr is the terminal too.
    assert [m.rstrip("\r") for m in reader.messages("stdout")] == [*(f"t {i}" for i in range(20)), "to stderr"]
    assert not reader.messages("stderr")


async def test_a_stopped_containers_last_line_without_newline_is_read_from_disk(
    harness: Harness, log_images: dict[str, str], readers: Readers
) -> None:
    reader, live = await deployed(harness, readers, log_images["last-words"], "last-words")
    await reader.wait(lambda: len(reader.messages("stdout")) >= 5)
    assert collector_of(harness, live.container_id).reading == "disk"

    await harness.docker.containers.container(live.container_id).kill(signal="TERM")
    await reader.wait(lambda: "last words" in reader.messages("stdout"), timeout=20)
    assert reader.messages("stdout")[:6] == [*(f"w {i}" for i in range(5)), "last words"]
