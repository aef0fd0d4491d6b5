"""From LogBatch messages to rows: parse Docker timestamps, order lines, store a fetch at once.

A whole pull (up to :data:`FETCH` messages) goes into one multi-row ``INSERT ... SELECT FROM
unnest(...) ON CONFLICT DO NOTHING`` in one transaction, and the messages are acked only
after it commits. What a batch's lines share (app, release, slot, container, stream, process,
run) is stored once in ``origins``; a line names its origin by id, and the unique key
``(origin, ts_raw, seq)`` makes a redelivered or republished batch add nothing; lines of apps
already deleted are dropped. The same
statement adds the rows it really inserted to the app's counters (lines stored, lines dropped
over budget, gaps), so a redelivery counts nothing twice, and the search index's chunks of
them (``chunks.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import msgspec
from berth_shared import bus
from berth_shared.contracts.base import decode
from berth_shared.contracts.logs import LOG_STREAMS, LogBatch
from berth_shared.db import Connection
from berth_shared.streams import LOGS_BULK_LINES, LOGS_LINES, ConsumerSpec
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from berth_logs.chunks import plan_chunks

log = logging.getLogger("berth.logs.ingest")

# Messages per pull: one transaction and one INSERT for all of them. Prompt batches (quiet apps,
# the router's) are small; a bulk pull of 4 agent batches (up to 8,000 lines) takes about a
# quarter of a second to insert, which is how long a quiet app's line can wait behind a flood's
# (bench/logs_insert.py: pulls of 8,000 lines insert about as fast as pulls of 32,000).
FETCH = 16
BULK_FETCH = 4
# A bulk pull waiting this long is committed even while prompt pulls keep coming.
BULK_PATIENCE = 5.0

_TS = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$")
_SECOND = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")


def parse_docker_ts(raw: str) -> tuple[datetime, int] | None:
    """Docker's RFC 3339 timestamp (nanoseconds, trailing zeros trimmed) -> (UTC datetime to the
    microsecond, nanoseconds within the second for ordering); None when it is not one."""
    split = split_docker_ts(raw)
    if split is None:
        return None
    second, nanos = split
    return at_micros(second, nanos // 1000), nanos


def at_micros(second: datetime, micros: int) -> datetime:
    """``second`` (a whole UTC second) plus ``micros`` microseconds (cheaper than a timedelta)."""
    return datetime(second.year, second.month, second.day, second.hour, second.minute, second.second, micros, UTC)


def split_docker_ts(raw: str) -> tuple[datetime, int] | None:
    """Docker's RFC 3339 timestamp -> (its whole second, as a UTC datetime; nanoseconds within
    it); None when it is not one. The engine's own form (UTC, nine digits) is read by slicing."""
    if len(raw) == 30 and raw[29] == "Z" and raw[19] == ".":
        fraction = raw[20:29]
        if fraction.isdigit() and fraction.isascii():
            second = _utc_second(raw[:19])
            if second is not None:
                return second, int(fraction)
    m = _TS.match(raw.strip())
    if not m:
        return None
    day, clock, frac, zone = m.groups()
    offset = zone or "Z"
    if offset != "Z" and ":" not in offset:
        offset = f"{offset[:3]}:{offset[3:]}"
    try:
        base = datetime.fromisoformat(f"{day}T{clock}{'+00:00' if offset == 'Z' else offset}")
    except ValueError:
        return None
    return base.astimezone(UTC), int((frac or "").ljust(9, "0"))


@functools.lru_cache(maxsize=1024)
def _utc_second(prefix: str) -> datetime | None:
    """``YYYY-MM-DDTHH:MM:SS`` (UTC) as a datetime; cached, since a pull's lines share few seconds."""
    if not _SECOND.fullmatch(prefix):
        return None
    try:
        return datetime.fromisoformat(prefix + "+00:00")
    except ValueError:
        return None


def clean_message(text: str) -> str:
    """Postgres text cannot hold NUL: it becomes U+FFFD like any other undecodable byte."""
    return text.replace("\x00", "\ufffd")


class Row(msgspec.Struct, frozen=True):
    app_id: str
    release_id: str
    slot: str
    container_id: str
    stream: str
    ts: datetime
    ts_raw: str
    seq: int
    message: str
    order: tuple[datetime, int, str, int]
    dropped: int = 0
    lost: bool = False
    # The process type that wrote it and the one-off run's id (ADR 0026).
    process: str = "web"
    run_id: str = ""


def rows_of(batches: list[LogBatch]) -> list[Row]:
    """Every line of ``batches`` as a row, each app's together in timestamp order (an app's ids
    then follow time)."""
    rows: list[Row] = []
    append = rows.append
    for b in batches:
        app_id, release_id, slot, container_id, stream = b.app_id, b.release_id, b.slot, b.container_id, b.stream
        process, run_id = b.process, b.run_id
        for line in b.lines:
            split = split_docker_ts(line.ts)
            if split is None:
                ts = b.at.astimezone(UTC)
                second, nanos = ts.replace(microsecond=0), 0
            else:
                second, nanos = split
                ts = at_micros(second, nanos // 1000)
            append(
                Row(
                    app_id=app_id,
                    release_id=release_id,
                    slot=slot,
                    container_id=container_id,
                    stream=stream,
                    ts=ts,
                    ts_raw=line.ts,
                    seq=line.seq,
                    message=clean_message(line.message),
                    order=(second, nanos, container_id, line.seq),
                    dropped=line.dropped if line.dropped > 0 else 0,
                    lost=line.lost,
                    process=process,
                    run_id=run_id,
                )
            )
    rows.sort(key=_app_then_order)
    return rows


def _app_then_order(row: Row) -> tuple[str, tuple[datetime, int, str, int]]:
    return row.app_id, row.order


def check_batch(batch: LogBatch) -> str | None:
    """Why a batch can never be stored (it is then terminated), or None."""
    if not batch.app_id or "." in batch.app_id:
        return f"bad app_id {batch.app_id!r}"
    if batch.stream not in LOG_STREAMS:
        return f"bad stream {batch.stream!r}"
    if not batch.container_id:
        return "empty container_id"
    return None


# A CTE adding the rows of ``inserted`` (app_id, dropped, lost) to their apps' counters.
COUNT_INSERTED = """counted AS (
    INSERT INTO counters AS c (app_id, stored, dropped, lost_gaps)
    SELECT app_id, count(*) FILTER (WHERE dropped = 0 AND NOT lost), coalesce(sum(dropped), 0),
           count(*) FILTER (WHERE lost)
    FROM inserted GROUP BY app_id ORDER BY app_id
    ON CONFLICT (app_id) DO UPDATE SET stored = c.stored + EXCLUDED.stored, dropped = c.dropped + EXCLUDED.dropped,
        lost_gaps = c.lost_gaps + EXCLUDED.lost_gaps, updated_at = now()
)"""

# A pull's origins (what a batch's lines share: app, release, slot, container, stream, process,
# run), each stored once in ``origins``: those new are added, and the id of each is returned in
# the order given — NULL for an origin of a deleted app (its lines are dropped). The pull's apps
# get their retention row here too.
ORIGINS_SQL = """
WITH u AS (
    SELECT u.* FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
         WITH ORDINALITY AS u(app_id, release_id, slot, container_id, stream, process, run_id, n)
    WHERE NOT EXISTS (SELECT 1 FROM deleted_apps d WHERE d.app_id = u.app_id)
), kept AS (
    INSERT INTO retention (app_id) SELECT DISTINCT app_id FROM u ON CONFLICT DO NOTHING
), added AS (
    INSERT INTO origins AS g (app_id, release_id, slot, container_id, stream, process, run_id)
    SELECT app_id, release_id, slot, container_id, stream, process, run_id FROM u ORDER BY n
    ON CONFLICT DO NOTHING
    RETURNING g.id, g.app_id, g.release_id, g.slot, g.container_id, g.stream, g.process, g.run_id
)
SELECT array_agg(coalesce(a.id, g.id) ORDER BY o.n)
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
     WITH ORDINALITY AS o(app_id, release_id, slot, container_id, stream, process, run_id, n)
LEFT JOIN u ON u.n = o.n
LEFT JOIN added a ON (a.app_id, a.release_id, a.slot, a.container_id, a.stream, a.process, a.run_id)
                     = (u.app_id, u.release_id, u.slot, u.container_id, u.stream, u.process, u.run_id)
LEFT JOIN origins g ON (g.app_id, g.release_id, g.slot, g.container_id, g.stream, g.process, g.run_id)
                     = (u.app_id, u.release_id, u.slot, u.container_id, u.stream, u.process, u.run_id)
"""

# Each line's id is taken in the order of the rows (``x``), so every chunk's lines have ids between
# its first line's and the next chunk's first line's: ``width_bucket`` finds an inserted line's chunk.
# A line names its origin by its position among the pull's origins ($3): $1 holds their ids
# (ORIGINS_SQL; NULL for a deleted app's: not inserted), $2 their apps. Berth's notices (lines with
# ``dropped`` or ``lost``) are few, so they come as positions ($8-$10), as do the lines that start
# a chunk ($11). Arrays of a value per line cost the service more to encode (and Postgres
# more to read) than the insert's own work (bench/logs: CPU per line).
INSERT_SQL = f"""
WITH x AS MATERIALIZED (
    SELECT nextval('lines_id_seq') AS id, ($1::int[])[u.o] AS origin, ($2::text[])[u.o] AS app_id,
           u.ts, u.ts_raw, u.seq, u.message,
           coalesce(($9::int[])[array_position($8::int[], u.n::int)], 0) AS dropped,
           coalesce(($10::bool[])[array_position($8::int[], u.n::int)], false) AS lost, u.n
    FROM unnest($3::int[], $4::timestamptz[], $5::text[], $6::int[], $7::text[])
         WITH ORDINALITY AS u(o, ts, ts_raw, seq, message, n)
), inserted AS (
    INSERT INTO lines (id, app_id, origin, ts, ts_raw, seq, message, dropped, lost)
    SELECT x.id, x.app_id, x.origin, x.ts, x.ts_raw, x.seq, x.message, x.dropped, x.lost
    FROM x
    WHERE x.origin IS NOT NULL
    ORDER BY x.n
    ON CONFLICT (origin, ts_raw, seq) DO NOTHING
    RETURNING id, app_id, origin, ts, dropped, lost
), {COUNT_INSERTED}, spans AS (
    UPDATE origins g SET first_id = coalesce(g.first_id, s.first_id), last_id = s.last_id
    FROM (SELECT origin, min(id) AS first_id, max(id) AS last_id FROM inserted GROUP BY origin) s
    WHERE g.id = s.origin
), chunked AS (
    INSERT INTO chunks (app_id, first_id, last_id, first_ts, last_ts, words)
    SELECT min(i.app_id), min(i.id), max(i.id), min(i.ts), max(i.ts), lower(($12::text[])[i.k])
    FROM (SELECT app_id, id, ts,
                 width_bucket(id, (SELECT array_agg(x.id ORDER BY x.n) FROM x WHERE x.n = ANY($11::int[]))) AS k
          FROM inserted) i
    GROUP BY i.k
)
SELECT count(*) FROM inserted
"""
_ON_CONFLICT = "ON CONFLICT (origin, ts_raw, seq) DO NOTHING"
# The same insert without the duplicate check, for a pull that cannot repeat a stored line (see
# FRESH_SQL): ``ON CONFLICT`` probes the origin key before each line's insert and confirms it after,
# the largest part of the insert's cost (ADR 0006, addendum of 2026-12-05). The unique key still
# holds: a line repeated within the pull fails the statement, and the pull is stored again with
# the check (store_insert).
INSERT_FRESH_SQL = INSERT_SQL.replace(_ON_CONFLICT, "")
assert INSERT_FRESH_SQL != INSERT_SQL
# Whether every origin of a pull ($1, its ids) has no stored line, or its newest stored ``ts_raw``
# (by the origin key's order, byte-wise) is in the engine's fixed form and sorts before the pull's
# oldest line of it ($2; every line of it in that form). Fixed-form stamps sort byte-wise as they
# sort in time (digits at the same places), so every stored stamp of that form is older than
# every line of the pull, and a stamp of another form cannot equal one of the pull's.
FRESH_SQL = r"""
SELECT coalesce(bool_and(s.newest ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z$'
                         AND s.newest < o.oldest COLLATE "C"), true)
FROM unnest($1::int[], $2::text[]) AS o(origin, oldest)
CROSS JOIN LATERAL (SELECT l.ts_raw AS newest FROM lines l
                    WHERE l.origin = o.origin ORDER BY l.ts_raw DESC, l.seq DESC LIMIT 1) s
WHERE o.origin IS NOT NULL
"""
# Run first in each insert's transaction. One insert at a time takes ids (even from two
# processes), so an app's chunks never overlap and ids commit in order. And no sequential scan of
# ``lines``: the statements are prepared once per connection, and a plan made while the table's
# statistics still said it was empty (a new install, before autovacuum's first analyze) read the
# whole table for FRESH_SQL on every pull: bench/logs measured the logs role at 30-38 us of CPU
# per line in such runs, 11-13 in others. Every statement of the insert has an index to use.
BEGIN_INSERT_SQL = "SET LOCAL enable_seqscan = off; LOCK TABLE chunks IN SHARE ROW EXCLUSIVE MODE"
_FIXED_STAMPS = re.compile(r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z)+")

Origin = tuple[str, str, str, str, str, str, str]


def origin_of(row: Row) -> Origin:
    """What ``row`` shares with the other lines of its batch (``origins``' columns, in order)."""
    return (row.app_id, row.release_id, row.slot, row.container_id, row.stream, row.process, row.run_id)


def oldest_stamps(rows: list[Row], origin_at: list[int], count: int) -> list[str] | None:
    """Per origin (``origin_at``: each row's, 1-based, of ``count``): its oldest ``ts_raw`` (by code
    point, as ``COLLATE "C"`` compares); None when a line's stamp is not in the engine's fixed form."""
    stamps: list[list[str]] = [[] for _ in range(count)]
    for r, o in zip(rows, origin_at, strict=True):
        stamps[o - 1].append(r.ts_raw)
    oldest: list[str] = []
    for raw in stamps:
        if not _FIXED_STAMPS.fullmatch("".join(raw)):
            return None
        oldest.append(min(raw))
    return oldest


class Arguments(msgspec.Struct, frozen=True):
    """:data:`INSERT_SQL`'s arguments for rows in insert order (its first, the origins' ids, are
    :data:`ORIGINS_SQL`'s answer to :attr:`origins`)."""

    origins: list[Origin]
    origin_of: list[int]
    ts: list[datetime]
    ts_raw: list[str]
    seq: list[int]
    message: list[str]
    notices: tuple[list[int], list[int], list[bool]]
    starts: list[int]
    oldest: list[str] | None = None

    def origin_columns(self) -> list[list[str]]:
        return [[o[c] for o in self.origins] for c in range(7)]

    def as_list(self, origin_ids: list[int | None], words: list[str]) -> list[object]:
        return [
            origin_ids,
            [o[0] for o in self.origins],
            self.origin_of,
            self.ts,
            self.ts_raw,
            self.seq,
            self.message,
            *self.notices,
            self.starts,
            words,
        ]


def arguments(rows: list[Row], starts: list[bool]) -> Arguments:
    """The columns of ``rows``: each distinct origin once, the rest per line (notices and chunk
    starts by their 1-based position)."""
    index: dict[Origin, int] = {}
    origin_at: list[int] = []
    notice_at: list[int] = []
    dropped: list[int] = []
    lost: list[bool] = []
    for n, r in enumerate(rows, 1):
        key = (r.app_id, r.release_id, r.slot, r.container_id, r.stream, r.process, r.run_id)
        o = index.get(key)
        if o is None:
            o = index[key] = len(index) + 1
        origin_at.append(o)
        if r.dropped or r.lost:
            notice_at.append(n)
            dropped.append(r.dropped)
            lost.append(r.lost)
    return Arguments(
        origins=list(index),
        origin_of=origin_at,
        ts=[r.ts for r in rows],
        ts_raw=[r.ts_raw for r in rows],
        seq=[r.seq for r in rows],
        message=[r.message for r in rows],
        notices=(notice_at, dropped, lost),
        starts=[n for n, start in enumerate(starts, 1) if start],
        oldest=oldest_stamps(rows, origin_at, len(index)),
    )


class Insert(msgspec.Struct, frozen=True):
    """A pull's rows in the order they get their ids, whether each starts a chunk of the search
    index, and each chunk's words."""

    rows: list[Row]
    starts: list[bool]
    words: list[str]
    # INSERT_SQL's arguments, when already made (in the decode thread, off the event loop).
    args: Arguments | None = None


def insert_of(rows: list[Row]) -> Insert:
    """``rows`` ordered as :func:`rows_of` orders them (already so: linear), and their chunks."""
    ordered = sorted(rows, key=_app_then_order)
    starts, words = plan_chunks([r.app_id for r in ordered], [r.message for r in ordered])
    return Insert(ordered, starts, words)


async def store(conn: Connection, rows: list[Row]) -> int:
    """Insert ``rows`` and their chunks (one statement); returns how many lines were new."""
    return await store_insert(conn, insert_of(rows))


async def origin_ids(conn: Connection, origins: list[Origin]) -> list[int | None]:
    """The ids of ``origins`` (added when new), in their order; None for a deleted app's. Call it
    in the insert's transaction, under its lock."""
    columns = [[o[c] for o in origins] for c in range(7)]
    return list(await conn.fetchval(ORIGINS_SQL, *columns))


async def store_insert(conn: Connection, insert: Insert) -> int:
    """Insert a prepared pull (one statement); returns how many lines were new."""
    rows = insert.rows
    if not rows:
        return 0
    async with conn.transaction():
        # One insert at a time takes ids (even from two processes), so an app's chunks never
        # overlap and ids commit in order.
        await conn.execute(BEGIN_INSERT_SQL)
        args = insert.args if insert.args is not None else arguments(rows, insert.starts)
        ids = await origin_ids(conn, args.origins)
        params = args.as_list(ids, insert.words)
        if args.oldest is not None and await conn.fetchval(FRESH_SQL, ids, args.oldest):
            try:
                async with conn.transaction():  # a savepoint: a line repeated within the pull
                    return int(await conn.fetchval(INSERT_FRESH_SQL, *params))
            except asyncpg.UniqueViolationError:
                log.info("a pull repeats one of its own lines; storing it with the duplicate check")
        inserted = await conn.fetchval(INSERT_SQL, *params)
    return int(inserted)


def _insert_of_batches(batches: list[LogBatch]) -> Insert:
    rows = rows_of(batches)  # already in insert order: no second sort
    starts, words = plan_chunks([r.app_id for r in rows], [r.message for r in rows])
    return Insert(rows, starts, words, arguments(rows, starts))


@dataclass
class Pull:
    """One fetch, decoded: the messages to ack once ``rows`` are committed."""

    good: list[Msg]
    insert: Insert


@dataclass(frozen=True)
class Lane:
    """One of the ingest's consumers and how many messages a pull of it takes."""

    name: str
    spec: ConsumerSpec
    fetch: int


PROMPT = Lane("prompt", LOGS_LINES, FETCH)
BULK = Lane("bulk", LOGS_BULK_LINES, BULK_FETCH)
LANES = (PROMPT, BULK)


def choose(waiting: dict[Lane, float], now: float) -> Lane | None:
    """Which lane's ready pull to commit next, given when each waiting one was fetched: the
    prompt one, unless a bulk pull has waited :data:`BULK_PATIENCE` seconds (prompt batches
    never starve bulk ones for longer than that); None when nothing waits."""
    bulk = waiting.get(BULK)
    if bulk is not None and (PROMPT not in waiting or now - bulk >= BULK_PATIENCE):
        return BULK
    return PROMPT if PROMPT in waiting else None


class Ingester:
    """The pull loops of the ``logs-lines`` (prompt) and ``logs-lines-bulk`` consumers: each
    lane's next pull is fetched and decoded while another is inserted, but inserts run one at a
    time, so line ids are committed in order (a live tail reading ``id > last`` never skips a
    line committed late), and a prompt pull goes before a waiting bulk one."""

    def __init__(self, pool: asyncpg.Pool, js: JetStreamContext) -> None:
        self.pool = pool
        self.js = js
        self.stored = 0

    async def handle(self, msgs: list[Msg]) -> None:
        pull = await self.prepare(msgs)
        if pull is not None:
            await self.commit(pull)

    async def prepare(self, msgs: list[Msg]) -> Pull | None:
        good: list[Msg] = []
        batches: list[LogBatch] = []
        for msg in msgs:
            try:
                batch = decode(msg.data, LogBatch)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                log.error("terminating undecodable log batch on %s: %s", msg.subject, exc)
                with contextlib.suppress(Exception):
                    await msg.term()
                continue
            problem = check_batch(batch)
            if problem:
                log.error("terminating log batch on %s: %s", msg.subject, problem)
                with contextlib.suppress(Exception):
                    await msg.term()
                continue
            good.append(msg)
            batches.append(batch)
        if not good:
            return None
        # CPU work in a thread: the service keeps answering queries meanwhile.
        return Pull(good, await asyncio.to_thread(_insert_of_batches, batches))

    async def commit(self, pull: Pull) -> None:
        try:
            async with self.pool.acquire() as conn:
                self.stored += await store_insert(conn, pull.insert)
        except Exception:
            log.exception("storing %d log batch(es) failed; they will be redelivered", len(pull.good))
            for msg in pull.good:
                with contextlib.suppress(Exception):
                    await msg.nak(delay=2.0)
            return
        for msg in pull.good:
            with contextlib.suppress(Exception):
                await msg.ack()

    async def run(self, stop: asyncio.Event) -> None:
        """Commit pulls of both lanes one at a time, prompt ones first (see :func:`choose`)."""
        loop = asyncio.get_running_loop()
        ready = {lane: asyncio.Queue[Pull](maxsize=1) for lane in LANES}
        since: dict[Lane, float] = {}  # when the pull waiting in each lane became ready
        arrived = asyncio.Event()

        async def fetch(lane: Lane) -> None:
            async for pull in self._pulls(lane, stop):
                await ready[lane].put(pull)
                since[lane] = loop.time()
                arrived.set()

        fetching = [asyncio.create_task(fetch(lane)) for lane in LANES]
        try:
            while not (stop.is_set() and all(q.empty() for q in ready.values())):
                waiting = {lane: since[lane] for lane, q in ready.items() if not q.empty()}
                lane = choose(waiting, loop.time())
                if lane is None:
                    arrived.clear()
                    try:
                        async with asyncio.timeout(1.0):
                            await arrived.wait()
                    except TimeoutError:
                        for task in fetching:
                            if task.done():
                                task.result()  # its failure is ours
                    continue
                await self.commit(ready[lane].get_nowait())
        finally:
            for task in fetching:
                task.cancel()
            await asyncio.gather(*fetching, return_exceptions=True)

    async def _pulls(self, lane: Lane, stop: asyncio.Event) -> AsyncIterator[Pull]:
        async with contextlib.aclosing(bus.pulls(self.js, lane.spec, batch=lane.fetch, stop=stop)) as fetched:
            async for msgs in fetched:
                pull = await self.prepare(msgs)
                if pull is not None:
                    yield pull
