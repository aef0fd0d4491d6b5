"""``python -m berth_health`` as `berth up` runs it: starts with its own credentials, stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest
from berth_cli.launcher.platform import Platform

pytestmark = pytest.mark.integration


async def read_until(stream: asyncio.StreamReader, text: str, within: float) -> None:
    async with asyncio.timeout(within):
        while text.encode() not in await stream.readline():
            if stream.at_eof():
                pytest.fail(f"process ended before logging {text!r}")


async def test_the_process_starts_and_stops_cleanly_on_sigterm(infra: Platform) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "berth_health",
        env={**os.environ, **infra.service_env("health")},
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stderr is not None
    try:
        await read_until(proc.stderr, "health started", within=30)
        proc.send_signal(signal.SIGTERM)
        await read_until(proc.stderr, "health stopped", within=10)
        assert await asyncio.wait_for(proc.wait(), timeout=10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
