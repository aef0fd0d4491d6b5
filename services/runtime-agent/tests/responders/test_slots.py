"""Which slot of each app the agent tells a restarted router to serve (pure part), and the
answer on the bus after real rollouts."""

from __future__ import annotations

import pytest
from agent_harness import Harness, eventually, release
from berth_agent.memory import MemoryStore
from berth_agent.responders.slots import serving_slots
from berth_agent.state import ActualState, ObservedContainer, Serving
from berth_shared import bus
from berth_shared.contracts.releases import ReleaseFailed, ReleaseLive, ReleaseStep
from berth_shared.contracts.slots import ListServingSlots, ServingSlot, ServingSlots, serving_slots_subject


def container(app_id: str, release_id: str, slot: str, state: str = "running") -> ObservedContainer:
    return ObservedContainer(f"c-{release_id}", f"{app_id}-{slot}", app_id, release_id, slot, state)  # type: ignore[arg-type]


def test_the_slot_the_router_was_last_asked_for_comes_first() -> None:
    memory = MemoryStore()
    memory.serving("flipping", Serving("r2", "b"))  # asked for b while a still runs
    actual = ActualState(containers=(container("flipping", "r1", "a"), container("flipping", "r2", "b")))
    assert serving_slots(actual, memory.snapshot()) == [ServingSlot(app_id="flipping", release_id="r2", slot="b")]


def test_after_the_agents_restart_an_apps_one_running_container_tells_its_slot() -> None:
    actual = ActualState(
        containers=(
            container("alone", "r1", "b"),
            container("crashed", "r1", "a", state="exited"),
            container("two", "r1", "a"),
            container("two", "r2", "b"),
        )
    )
    # Nothing running, or two (a rollout the agent will resume): the router keeps what it has.
    assert serving_slots(actual, MemoryStore().snapshot()) == [ServingSlot(app_id="alone", release_id="r1", slot="b")]


def test_every_web_address_is_told_and_workers_do_not_count() -> None:
    memory = MemoryStore()
    memory.serving("scaled", Serving("r2", "b", ("10.0.0.3", "10.0.0.4")))
    told = serving_slots(ActualState(), memory.snapshot())
    assert told == [ServingSlot(app_id="scaled", release_id="r2", slot="b", addresses=["10.0.0.3", "10.0.0.4"])]

    def instance(process: str, index: int, address: str) -> ObservedContainer:
        return ObservedContainer(
            f"c-{process}-{index}", "x", "app", "r1", "a", "running", process=process, index=index, address=address
        )

    after_restart = ActualState(
        containers=(instance("web", 1, "10.0.0.5"), instance("web", 0, "10.0.0.2"), instance("worker", 0, "10.0.0.4"))
    )
    assert serving_slots(after_restart, MemoryStore().snapshot()) == [
        ServingSlot(app_id="app", release_id="r1", slot="a", addresses=["10.0.0.2", "10.0.0.5"])
    ]


async def slots_served(harness: Harness, app_id: str) -> list[ServingSlot]:
    """The agent's answer to a restarted router, for ``app_id``."""
    subject = serving_slots_subject(harness.host)
    answer = await bus.request(harness.router.nc, subject, ListServingSlots(requester="router"), ServingSlots)
    assert answer.host == harness.host
    return [s for s in answer.slots if s.app_id == app_id]


@pytest.mark.integration
async def test_the_router_is_switched_before_live_and_told_the_serving_slots_when_it_asks(
    harness: Harness, test_images: dict[str, str]
) -> None:
    await harness.start_agent()
    app = harness.new_app()
    for image in (test_images["v1"], test_images["v2"]):
        rel = release(image)
        await harness.api.set_release(app.app_id, rel)
        live = await harness.events.wait_outcome(rel.release_id)
        assert isinstance(live, ReleaseLive)
        switched = await harness.events.wait_for(ReleaseStep, release_id=rel.release_id, step="proxy.switched")
        assert switched.slot == live.slot and f"the router serves slot {live.slot}" in switched.detail
    assert harness.router.slots_of(app.app_id) == ["a", "b"]

    assert await slots_served(harness, app.app_id) == [
        ServingSlot(app_id=app.app_id, release_id=live.release_id, slot="b")
    ]


@pytest.mark.integration
async def test_a_release_the_router_never_confirms_fails_and_the_old_slot_keeps_serving(
    harness: Harness, test_images: dict[str, str]
) -> None:
    await harness.start_agent()
    app = harness.new_app()
    first = release(test_images["v1"])
    await harness.api.set_release(app.app_id, first)
    assert isinstance(await harness.events.wait_outcome(first.release_id), ReleaseLive)

    harness.router.answering = False  # the router is down for longer than the switch deadline
    second = release(test_images["v2"])
    await harness.api.set_release(app.app_id, second)
    failed = await harness.events.wait_outcome(second.release_id, timeout=60)
    assert isinstance(failed, ReleaseFailed)
    assert failed.reason.startswith("the router did not switch the proxy to slot b within 15s")

    async def only_the_old_container() -> bool:
        return [c["Id"] for c in await harness.containers(app.app_id)] == [
            c["Id"] for c in await harness.containers(app.app_id, first.release_id)
        ]

    await eventually(only_the_old_container, timeout=30)
    # A router that comes back is told the old slot serves.
    assert await slots_served(harness, app.app_id) == [
        ServingSlot(app_id=app.app_id, release_id=first.release_id, slot="a")
    ]
