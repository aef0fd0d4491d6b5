"""Addresses against real Docker: the taken set comes from the app's containers' labels."""

from __future__ import annotations

import asyncio

import pytest
from agent_harness import Harness
from berth_agent.addresses.run import Addresses, NoFreeAddress
from berth_shared import labels
from berth_shared.netplan import shared_range

pytestmark = pytest.mark.integration


async def test_addresses_held_by_labels_survive_a_restart_and_pending_ones_are_not_handed_twice(
    harness: Harness, test_images: dict[str, str]
) -> None:
    app = harness.new_app()
    addresses = Addresses(harness.docker, harness.instance)
    first = await addresses.pick(app.app_id, app.subnet)
    second = await addresses.pick(app.app_id, app.subnet)  # the first is pending: not handed out again
    shared = shared_range(app.subnet)
    assert (first, second) == (shared[0], shared[1])
    body = {
        "Image": test_images["v1"],
        "Labels": {
            labels.MANAGED: "true",
            labels.INSTANCE: harness.instance,
            labels.APP: app.app_id,
            labels.ADDRESS: first,
        },
    }
    await harness.docker.containers.create(body, name=f"berth-{harness.instance}-addr")
    addresses.free(app.app_id, first)
    addresses.free(app.app_id, second)

    restarted = Addresses(harness.docker, harness.instance)  # nothing in memory: the label holds it
    assert await restarted.pick(app.app_id, app.subnet) == second
    assert await restarted.labelled(app.app_id) == {first}


async def test_a_full_range_waits_for_an_address_then_fails(harness: Harness) -> None:
    app = harness.new_app()
    addresses = Addresses(harness.docker, harness.instance)
    held = [await addresses.pick(app.app_id, app.subnet) for _ in range(11)]
    assert None not in held and await addresses.pick(app.app_id, app.subnet) is None

    waiting = asyncio.create_task(addresses.take(app.app_id, app.subnet, wait_seconds=5))
    addresses.free(app.app_id, str(held[3]))
    assert await asyncio.wait_for(waiting, 5) == held[3]
    with pytest.raises(NoFreeAddress, match="no free address"):
        await addresses.take(app.app_id, app.subnet, wait_seconds=0.3)
