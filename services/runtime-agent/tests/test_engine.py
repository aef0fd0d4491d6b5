from __future__ import annotations

import aiodocker
import pytest
from berth_agent.containers.run import Containers
from berth_agent.engine import is_engine_down
from berth_agent.memory import MemoryStore
from berth_agent.publisher import Publisher
from berth_shared.contracts.desired import DesiredApp, DesiredRelease
from berth_shared.errors import EngineUnavailable

MISSING_SOCKET = "unix:///nonexistent/berth-test-docker.sock"


def test_engine_down_is_told_apart_from_a_refusal() -> None:
    assert is_engine_down(aiodocker.DockerError(900, "Cannot connect to Docker Engine"))
    assert is_engine_down(ConnectionRefusedError())
    assert not is_engine_down(aiodocker.DockerError(400, "invalid memory limit"))
    assert not is_engine_down(aiodocker.DockerError(404, "no such image"))


async def test_an_unreachable_engine_postpones_instead_of_failing_the_release() -> None:
    app = DesiredApp(app_id="app1", name="web", hostname="web.test", port=8080, subnet="10.0.0.0/28")
    release = DesiredRelease(release_id="r1", image="img:1")
    async with aiodocker.Docker(url=MISSING_SOCKET) as docker:
        containers = Containers(
            docker,
            instance="inst1",
            publisher=Publisher(None),  # type: ignore[arg-type]  # never reached
            memory=MemoryStore(),
        )
        with pytest.raises(EngineUnavailable):
            await containers.create(app, release, "a")
