from __future__ import annotations

import json

from berth_agent.docker_events import event_filters, to_container_event
from berth_shared import labels
from berth_shared.contracts.containers import ContainerExited, ContainerOomKilled, ContainerStarted


def raw(action: str, **attributes: str) -> dict[str, object]:
    base = {labels.APP: "app1", labels.RELEASE: "r1", labels.SLOT: "a", "name": "berth-x-web-a-r1"}
    return {"Type": "container", "Action": action, "Actor": {"ID": "c1", "Attributes": base | attributes}}


def test_start_becomes_container_started() -> None:
    event = to_container_event(raw("start"), set())
    assert event is not None and event.event == "started" and not event.died
    assert isinstance(event.message, ContainerStarted)
    assert (event.message.app_id, event.message.release_id, event.message.slot) == ("app1", "r1", "a")


def test_die_carries_the_exit_code_and_whether_the_agent_asked_for_it() -> None:
    unexpected = to_container_event(raw("die", exitCode="3"), set())
    assert unexpected is not None and unexpected.died
    assert isinstance(unexpected.message, ContainerExited)
    assert (unexpected.message.exit_code, unexpected.message.expected) == (3, False)
    expected = to_container_event(raw("die", exitCode="143"), {"c1"})
    assert expected is not None and isinstance(expected.message, ContainerExited) and expected.message.expected


def test_oom_becomes_container_oom_killed() -> None:
    event = to_container_event(raw("oom"), set())
    assert event is not None and isinstance(event.message, ContainerOomKilled)


def test_unlabelled_and_unwatched_events_are_ignored() -> None:
    assert to_container_event({"Action": "start", "Actor": {"ID": "c1", "Attributes": {}}}, set()) is None
    assert to_container_event(raw("rename"), set()) is None


def test_filters_select_this_instance_only() -> None:
    filters = json.loads(event_filters("inst1"))
    assert filters["label"] == [f"{labels.MANAGED}=true", f"{labels.INSTANCE}=inst1"]
    assert set(filters["event"]) == {"start", "die", "oom"}
