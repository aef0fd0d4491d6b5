"""Which containers the agent holds are a process's instances, and how they read (ADR 0026)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from berth_api.process_instances import instances_by_process
from berth_shared.contracts.agent import AgentApps, HeldApp, HeldContainer


def held(*containers: HeldContainer, app_id: str = "app-1") -> AgentApps:
    other = HeldApp(app_id="app-2", containers=[HeldContainer(release_id="x", slot="a", container_id="f" * 64)])
    return AgentApps(host="h", at=datetime.now(UTC), apps=[HeldApp(app_id=app_id, containers=list(containers)), other])


def test_instances_by_process_with_address_slot_and_release() -> None:
    def c(release: str, cid: str, process: str = "web", **extra: Any) -> HeldContainer:
        return HeldContainer(
            release_id=release, slot="a" if release == "r1" else "b", container_id=cid * 64, process=process, **extra
        )

    answer = held(
        c("r2", "a", running=True, address="10.0.0.18"),
        c("r2", "b", "worker", running=True, index=1, address="10.0.0.21"),
        c("r1", "c", "worker", running=True, address="10.0.0.20"),
        c("r2", "d", "worker", running=False, address="10.0.0.22"),
        c("r2", "e", "cron", run_id="run-1", running=True),
        c("r2", "9", "release", running=True),
    )
    out = instances_by_process(answer, "app-1", "r2")
    assert sorted(out) == ["web", "worker"]
    assert out["web"] == [
        {
            "index": 0,
            "running": True,
            "address": "10.0.0.18",
            "slot": "b",
            "containerId": "a" * 12,
            "releaseId": "r2",
            "live": True,
        }
    ]
    # By index, the live release's first; an old release's instance (still draining) after it.
    assert [(i["index"], i["releaseId"], i["running"]) for i in out["worker"]] == [
        (0, "r2", False),
        (0, "r1", True),
        (1, "r2", True),
    ]


def test_an_app_the_agent_holds_nothing_of_has_no_instances() -> None:
    assert instances_by_process(held(app_id="app-3"), "app-1", None) == {}
    legacy = held(HeldContainer(release_id="r1", slot="a", container_id="a" * 64, running=True))
    assert instances_by_process(legacy, "app-1", "r1")["web"][0]["address"] is None  # an agent from before ADR 0026
