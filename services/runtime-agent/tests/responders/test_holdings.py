"""What the agent answers the API's resync query with (pure part)."""

from __future__ import annotations

from typing import Any

from berth_agent.memory import MemoryStore
from berth_agent.responders.holdings import held_apps
from berth_shared import labels


def inspected(app_id: str, release_id: str, slot: str, status: str) -> dict[str, Any]:
    return {
        "Id": f"ctr-{release_id}",
        "Name": f"/app-{slot}",
        "Image": "sha256:abc",
        "Config": {"Labels": {labels.APP: app_id, labels.RELEASE: release_id, labels.SLOT: slot}, "Env": []},
        "State": {"Status": status},
    }


def test_containers_networks_and_memory_are_told_per_app() -> None:
    memory = MemoryStore()
    memory.release_live("app-1", "r2")
    memory.release_failed("app-1", "r3")
    memory.cleaned_up("gone")
    containers = [inspected("app-1", "r2", "b", "running"), inspected("app-1", "r1", "a", "exited")]
    networks = [{"Id": "net-1", "Name": "berth-app-1", "Labels": {labels.APP: "app-1"}}]

    apps = {a.app_id: a for a in held_apps("local", containers, networks, memory.snapshot())}

    one = apps["app-1"]
    assert (one.live_release, one.failed_releases, one.network, one.cleaned_up) == ("r2", ["r3"], True, False)
    assert {(c.release_id, c.slot, c.running, c.image_id) for c in one.containers} == {
        ("r2", "b", True, "sha256:abc"),
        ("r1", "a", False, "sha256:abc"),
    }
    gone = apps["gone"]
    assert (gone.containers, gone.network, gone.cleaned_up) == ([], False, True)


def test_a_container_without_berths_labels_is_not_told() -> None:
    stray = {"Id": "x", "Config": {"Labels": {}}, "State": {"Status": "running"}}
    assert held_apps("local", [stray], [], MemoryStore().snapshot()) == []


def test_each_container_tells_its_process_instance_run_and_address() -> None:
    worker = inspected("app-1", "r2", "a", "running")
    worker["Config"]["Labels"] |= {labels.PROCESS: "worker", labels.INDEX: "1", labels.ADDRESS: "10.0.0.5"}
    run = inspected("app-1", "r2", "a", "running")
    run["Id"] = "ctr-run"
    run["Config"]["Labels"] |= {labels.PROCESS: "run", labels.RUN: "run-7", labels.ADDRESS: "10.0.0.4"}
    [app] = held_apps("local", [worker, run], [], MemoryStore().snapshot())
    told = {(c.process, c.index, c.run_id, c.address) for c in app.containers}
    assert told == {("worker", 1, "", "10.0.0.5"), ("run", 0, "run-7", "10.0.0.4")}
