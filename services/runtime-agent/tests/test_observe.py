from __future__ import annotations

from berth_agent.observe import docker_time, label_filters, parse_container, parse_network
from berth_agent.state import AppMemory, Death, unrecorded_deaths
from berth_shared import labels


def inspected(slot: str = "b", status: str = "exited") -> dict[str, object]:
    return {
        "Id": "c1",
        "Name": "/berth-x-web-b-r1",
        "Config": {"Labels": {labels.APP: "app1", labels.RELEASE: "r1", labels.SLOT: slot}},
        "State": {"Status": status, "ExitCode": 3, "FinishedAt": "2024-05-01T10:00:00.123456789Z", "OOMKilled": False},
    }


def test_parse_container_reads_identity_from_labels() -> None:
    observed = parse_container(inspected())
    assert observed is not None
    assert (observed.app_id, observed.release_id, observed.slot, observed.name) == (
        "app1",
        "r1",
        "b",
        "berth-x-web-b-r1",
    )
    assert observed.exit_code == 3 and not observed.running
    assert observed.finished_at == docker_time("2024-05-01T10:00:00.123456Z")


def test_parse_container_rejects_unknown_slots() -> None:
    assert parse_container(inspected(slot="c")) is None


def test_docker_zero_time_means_never() -> None:
    assert docker_time("0001-01-01T00:00:00Z") == 0.0
    assert docker_time("2024-05-01T10:00:00Z") == 1714557600.0


def test_parse_network_needs_the_app_label() -> None:
    assert parse_network({"Id": "n1", "Name": "x", "Labels": {}}) is None
    network = parse_network({"Id": "n1", "Name": "x", "Labels": {labels.APP: "app1"}})
    assert network is not None and network.app_id == "app1"


def test_label_filters_scope_to_instance_and_app() -> None:
    assert label_filters("i1", "app1")[-1] == f"{labels.APP}=app1"
    assert len(label_filters("i1")) == 2


def test_unrecorded_deaths_counts_each_exit_of_the_live_release_once() -> None:
    observed = parse_container(inspected())
    assert observed is not None
    fresh = unrecorded_deaths([observed], AppMemory(), "r1")
    assert fresh == [Death("c1", "r1", observed.finished_at, 3)]
    assert unrecorded_deaths([observed], AppMemory(deaths=tuple(fresh)), "r1") == []
    assert unrecorded_deaths([observed], AppMemory(), "r2") == []
    assert unrecorded_deaths([observed], AppMemory(), None) == []


def test_parse_container_reads_the_process_identity_and_defaults_to_web_0() -> None:
    worker = inspected()
    worker["Config"] = {
        "Labels": {
            labels.APP: "app1",
            labels.RELEASE: "r1",
            labels.PROCESS: "worker",
            labels.INDEX: "2",
            labels.ADDRESS: "10.0.0.6",
        }
    }
    observed = parse_container(worker)  # no slot: a worker sits in none
    assert observed is not None
    assert (observed.process, observed.index, observed.address, observed.one_off) == ("worker", 2, "10.0.0.6", False)
    legacy = parse_container(inspected())
    assert legacy is not None and (legacy.process, legacy.index, legacy.address) == ("web", 0, "")
    web_without_slot = inspected()
    web_without_slot["Config"] = {"Labels": {labels.APP: "app1", labels.RELEASE: "r1"}}
    assert parse_container(web_without_slot) is None


def test_a_one_off_run_needs_no_release_and_is_never_a_death_of_the_release() -> None:
    run = inspected()
    run["Config"] = {"Labels": {labels.APP: "app1", labels.RUN: "run1", labels.PROCESS: "run"}}
    observed = parse_container(run)
    assert observed is not None and observed.one_off and observed.run_id == "run1"
    assert unrecorded_deaths([observed], AppMemory(), "") == []
