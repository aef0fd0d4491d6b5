"""A service's concurrent work, started together and never outliving it.

Every service runs a few long tasks side by side (consumers, loops, resyncs). When one fails,
or the service is stopped (its ``main`` cancelled), the others are cancelled and awaited before
the error or the cancellation goes on: no task is left running against a closed pool or bus.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine, Mapping
from typing import Any

# Each task's name (what ``asyncio`` reports it as) and its work.
Work = Mapping[str, Coroutine[Any, Any, object]]


@contextlib.asynccontextmanager
async def running(work: Work) -> AsyncIterator[list[asyncio.Task[object]]]:
    """Start ``work`` as tasks for the body's duration; on leaving, cancel and await each."""
    tasks = [asyncio.create_task(coro, name=name) for name, coro in work.items()]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_all(work: Work) -> None:
    """Run ``work`` until every task has returned; the first failure cancels the rest and is
    raised as it is."""
    async with running(work) as tasks:
        await asyncio.gather(*tasks)
