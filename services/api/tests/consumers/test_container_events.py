"""Container events become entries of the app's history."""

from __future__ import annotations

from berth_api.consumers.container_events import describe
from berth_shared.contracts.containers import ContainerExited, ContainerOomKilled, ContainerStarted

IDS = {"app_id": "a", "release_id": "r", "slot": "b", "container_id": "0123456789abcdef"}


def test_exit_keeps_the_code_and_whether_berth_stopped_it() -> None:
    entry = describe(ContainerExited(**IDS, exit_code=3, expected=False))
    assert entry.kind == "container.exited"
    assert entry.detail == {"slot": "b", "containerId": "0123456789ab", "exitCode": 3, "expected": False}


def test_start_and_oom() -> None:
    assert describe(ContainerStarted(**IDS)).kind == "container.started"
    assert describe(ContainerOomKilled(**IDS)).kind == "container.oom_killed"
