"""The identity a container's labels give its log lines (issue 17: the process and the run)."""

from __future__ import annotations

from berth_agent.logs.run import ContainerRef, container_ref
from berth_shared import labels

APP = {labels.APP: "app-1", labels.RELEASE: "rel-1"}


def test_a_web_container_of_before_process_types_logs_as_web_in_its_slot() -> None:
    ref = container_ref("c1", {**APP, labels.SLOT: "a"})
    assert ref == ContainerRef("c1", "app-1", "rel-1", "a", "web", "")


def test_a_worker_instance_logs_as_its_process() -> None:
    ref = container_ref("c2", {**APP, labels.SLOT: "b", labels.PROCESS: "worker", labels.INDEX: "1"})
    assert ref is not None and (ref.process, ref.run_id, ref.slot) == ("worker", "", "b")


def test_one_off_containers_log_as_run_cron_or_release_without_a_slot() -> None:
    run = container_ref("c3", {**APP, labels.PROCESS: "run", labels.RUN: "run-9"})
    cron = container_ref("c4", {labels.APP: "app-1", labels.PROCESS: "cron", labels.RUN: "run-8"})
    release = container_ref("c5", {**APP, labels.PROCESS: "release"})
    assert run == ContainerRef("c3", "app-1", "rel-1", "", "run", "run-9")
    assert cron == ContainerRef("c4", "app-1", "", "", "cron", "run-8")  # a run may belong to no release
    assert release == ContainerRef("c5", "app-1", "rel-1", "", "release", "")


def test_containers_that_are_not_an_apps_are_not_followed() -> None:
    assert container_ref("", {**APP, labels.SLOT: "a"}) is None
    assert container_ref("c6", {labels.RELEASE: "rel-1", labels.SLOT: "a"}) is None  # no app
    assert container_ref("c7", {**APP}) is None  # a web instance without its slot
    assert container_ref("c8", {labels.APP: "app-1", labels.SLOT: "a"}) is None  # no release
    assert container_ref("c9", {labels.APP: "app-1", labels.PROCESS: "worker"}) is None  # neither release nor run
