"""``python -m berth_agent`` as the launcher starts it: answers status, stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from typing import Any

import nats.errors
import pytest
from agent_harness import eventually
from berth_shared import bus
from berth_shared.contracts.agent import AgentStatus, AgentStatusRequest, agent_status_subject

pytestmark = pytest.mark.integration


async def test_the_service_process_answers_status_and_stops_on_sigterm(infra: Any) -> None:
    host = f"h{uuid.uuid4().hex[:8]}"
    env = {**infra.service_env("runtime-agent"), "BERTH_INSTANCE": f"t{host}", "BERTH_HOST_ID": host}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "berth_agent",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    nc = await bus.connect(infra.nats_url, "api", infra.credentials.nats_passwords["api"])
    try:

        async def status() -> AgentStatus | None:
            try:
                return await bus.request(nc, agent_status_subject(host), AgentStatusRequest(), AgentStatus, timeout=1)
            except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                return None

        answered = await eventually(status, timeout=30, every=0.2)
        assert answered.engine_ok and answered.host == host
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=20) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        observer = await bus.connect(*infra.observer_nats())
        await observer.jetstream().delete_consumer("BERTH_CMD", f"agent-{host}")
        await observer.drain()
        await nc.drain()
