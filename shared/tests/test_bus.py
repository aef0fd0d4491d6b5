"""The one pull loop's settling: ack when handled, term when poison, nak after the retry delay
when failed, nak at once when stopped; long handlers reported in progress; several messages
handled at once with ``concurrency``. (Every service's integration tests run it on real NATS.)"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest
from berth_shared import bus
from berth_shared.prompt_pulls import PromptPull
from berth_shared.streams import ConsumerSpec
from berth_testing import FakeMsg, eventually


async def settled(handler: bus.Handler, **options: Any) -> list[tuple[str, Any]]:
    msg = FakeMsg()
    await bus.settle(msg, handler, **options)  # type: ignore[arg-type]
    return msg.settled


async def test_a_handled_message_is_acked() -> None:
    async def ok(msg: Any) -> None:
        return None

    assert await settled(ok) == [("ack", None)]


async def test_poison_and_undecodable_messages_are_terminated() -> None:
    for error in (bus.Poison("never"), msgspec.ValidationError("bad"), msgspec.DecodeError("bad")):

        async def failing(msg: Any, error: Exception = error) -> None:
            raise error

        assert await settled(failing) == [("term", None)]


async def test_a_failure_is_redelivered_after_the_retry_delay() -> None:
    for error in (RuntimeError("db down"), bus.Retry()):

        async def failing(msg: Any, error: Exception = error) -> None:
            raise error

        assert await settled(failing, retry_delay=5.0) == [("nak", 5.0)]


async def test_a_handler_cancelled_by_the_stop_hands_its_message_back_at_once() -> None:
    started = asyncio.Event()

    async def forever(msg: Any) -> None:
        started.set()
        await asyncio.Event().wait()

    msg = FakeMsg()
    task = asyncio.create_task(bus.settle(msg, forever))  # type: ignore[arg-type]
    await started.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert msg.settled == [("nak", None)]


async def test_a_long_handler_is_reported_in_progress_until_it_finishes() -> None:
    msg = FakeMsg()

    async def reported_twice() -> bool:
        return msg.settled.count(("in_progress", None)) >= 2

    async def long(_: Any) -> None:
        await eventually(reported_twice, within=10, what="two in-progress reports")

    await asyncio.wait_for(bus.settle(msg, long, keep_alive=0.01), 10)  # type: ignore[arg-type]
    assert msg.settled[-1] == ("ack", None) and msg.settled.count(("in_progress", None)) >= 2


class FakeSub:
    """A pull subscription holding ``msgs``, handed out ``batch`` at a time."""

    def __init__(self, msgs: list[FakeMsg]) -> None:
        self.msgs = msgs
        self.unsubscribed = False

    async def fetch(self, batch: int, timeout: float) -> list[FakeMsg]:
        if not self.msgs:
            await asyncio.sleep(0.01)
            raise TimeoutError
        taken, self.msgs = self.msgs[:batch], self.msgs[batch:]
        return taken

    async def unsubscribe(self) -> None:
        self.unsubscribed = True


def bind_to(monkeypatch: pytest.MonkeyPatch, sub: FakeSub) -> None:
    """The pull loop pulls from ``sub``."""

    async def bind(js: Any, stream: str, durable: str) -> FakeSub:
        return sub

    monkeypatch.setattr(PromptPull, "bind", bind)


SPEC = ConsumerSpec(stream="S", durable="d", filter_subject="berth.test")


async def test_with_concurrency_the_messages_of_a_pull_are_handled_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    msgs = [FakeMsg() for _ in range(3)]
    sub = FakeSub(list(msgs))
    bind_to(monkeypatch, sub)
    stop = asyncio.Event()
    running = 0
    all_running = asyncio.Event()

    async def handler(_: Any) -> None:
        nonlocal running
        running += 1
        if running == 3:
            all_running.set()
        await all_running.wait()  # one at a time, this never returns

    task = asyncio.create_task(bus.consume(None, SPEC, handler, batch=2, concurrency=3, stop=stop))  # type: ignore[arg-type]
    await asyncio.wait_for(all_running.wait(), 10)

    async def all_acked() -> bool:
        return all(m.settled == [("ack", None)] for m in msgs)

    await eventually(all_acked, within=10, what="every message acked")
    stop.set()
    await asyncio.wait_for(task, 10)
    assert sub.unsubscribed


async def test_stopping_hands_back_the_messages_still_being_handled(monkeypatch: pytest.MonkeyPatch) -> None:
    msgs = [FakeMsg() for _ in range(2)]
    sub = FakeSub(list(msgs))
    bind_to(monkeypatch, sub)
    started = 0

    async def handler(_: Any) -> None:
        nonlocal started
        started += 1
        await asyncio.Event().wait()

    task = asyncio.create_task(bus.consume(None, SPEC, handler, concurrency=4))  # type: ignore[arg-type]

    async def both_started() -> bool:
        return started == 2

    await eventually(both_started, within=10, what="both handlers running")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert [m.settled for m in msgs] == [[("nak", None)], [("nak", None)]] and sub.unsubscribed
