from __future__ import annotations

import aiodocker
from berth_agent.responders.status import agent_status


async def test_unreachable_engine_is_reported_not_raised(tmp_path: object) -> None:
    async with aiodocker.Docker(url="unix:///nonexistent/berth-test-docker.sock") as docker:
        status = await agent_status(docker, "inst1", "host1")
    assert status.host == "host1"
    assert status.engine_ok is False
    assert status.engine_error
