"""Container events become entries of the app's history."""

from __future__ import annotations

from berth_api.consumers.container_events import describe
from berth_shared.contracts.containers import ContainerExited, ContainerOomKilled, ContainerStarted

IDS = {"app_id": "a", "release_id": "r", "slot": "b", "container_id": "0123456789abcdef"}


def test_exit_keeps_the_code_and_whether_berth_stopped_it() -> None:
    entry = describe(ContainerExited(**IDS, exit_code=3, expected=False))
    assert entry.kind == "container.exited"
    assert entry.detail == {
        "slot": "b", "containerId": "0123456789ab", "process": "web", "index": 0, "exitCode": 3, "expected": False
    }  # fmt: skip


def test_start_and_oom() -> None:
    assert describe(ContainerStarted(**IDS)).kind == "container.started"
    assert describe(ContainerOomKilled(**IDS)).kind == "container.oom_killed"


def test_entries_name_the_process_instance_and_run() -> None:
    worker = describe(ContainerOomKilled(**IDS, process="worker", index=2))
    assert (worker.detail["process"], worker.detail["index"], "runId" in worker.detail) == ("worker", 2, False)
    run = describe(ContainerExited(**IDS, exit_code=0, process="cron", run_id="r-1"))
    assert (run.detail["process"], run.detail["runId"]) == ("cron", "r-1")
