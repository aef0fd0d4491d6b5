"""A service's tasks run together; when one fails, or the service stops, none outlives it."""

from __future__ import annotations

import asyncio

import pytest
from berth_shared import tasks


async def test_all_tasks_run_until_each_returns() -> None:
    quick_done = asyncio.Event()
    finished: list[str] = []

    async def quick() -> None:
        finished.append("quick")
        quick_done.set()

    async def slow() -> None:
        await quick_done.wait()  # still running after the other returned
        finished.append("slow")

    await asyncio.wait_for(tasks.run_all({"slow": slow(), "quick": quick()}), 10)
    assert finished == ["quick", "slow"]


async def test_a_failure_cancels_the_others_before_it_is_raised() -> None:
    ended: list[str] = []

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            ended.append("forever")

    async def fails() -> None:
        raise ConnectionError("bus gone")

    with pytest.raises(ConnectionError, match="bus gone"):
        await asyncio.wait_for(tasks.run_all({"forever": forever(), "fails": fails()}), 10)
    assert ended == ["forever"]


async def test_a_stopped_service_cancels_and_awaits_its_tasks() -> None:
    started = asyncio.Event()
    ended: list[str] = []

    async def forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0)  # a teardown that itself awaits is finished too
            ended.append("forever")

    main = asyncio.create_task(tasks.run_all({"forever": forever()}))
    await asyncio.wait_for(started.wait(), 10)
    main.cancel()
    with pytest.raises(asyncio.CancelledError):
        await main
    assert ended == ["forever"]


async def test_running_cancels_the_tasks_when_the_body_ends() -> None:
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    async with tasks.running({"background": forever()}) as running:
        await asyncio.wait_for(started.wait(), 10)
    assert [task.get_name() for task in running] == ["background"]
    assert all(task.cancelled() for task in running)
