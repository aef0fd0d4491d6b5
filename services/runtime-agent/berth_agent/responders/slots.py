"""Answering ``berth.rpc.agent.<host>.slots``: the slot of each app the router should send new
requests to, so a restarted router gets its live-slot table back (ADR 0025).

The agent's memory says which slot it last had the router switch to; after the agent's own
restart (memory lost) an app with exactly one running container serves from that container's
slot. Apps it cannot tell (two running containers, mid-rollout) are left out: the router keeps
what it has for them, and the rollout the agent resumes switches them."""

from __future__ import annotations

import aiodocker
from berth_shared.contracts.base import decode
from berth_shared.contracts.processes import WEB
from berth_shared.contracts.slots import ListServingSlots, ServingSlot, ServingSlots, serving_slots_subject
from nats.aio.client import Client
from nats.aio.subscription import Subscription

from berth_agent.answers import answer_or_stay_silent
from berth_agent.memory import MemoryStore
from berth_agent.observe import observe
from berth_agent.state import ActualState, Memory, ObservedContainer


def serving_slots(actual: ActualState, memory: Memory) -> list[ServingSlot]:
    """The answer, from the observed containers and the memory snapshot (pure)."""
    answer = []
    for app_id in sorted(actual.app_ids() | set(memory.apps)):
        serving = memory.of(app_id).serving
        if serving is not None:
            answer.append(
                ServingSlot(
                    app_id=app_id,
                    release_id=serving.release_id,
                    slot=serving.slot,
                    addresses=list(serving.addresses),
                    no_instances=serving.no_instances,
                )
            )
            continue
        running = [c for c in actual.containers_of(app_id) if c.running and c.process == WEB and not c.one_off]
        if len({(c.release_id, c.slot) for c in running}) == 1 and len({c.index for c in running}) == len(running):
            first = running[0]
            # One web instance: its slot's fixed address, as before issue 17 (no list).
            addresses = [] if len(running) == 1 else sorted_addresses(running)
            answer.append(ServingSlot(app_id=app_id, release_id=first.release_id, slot=first.slot, addresses=addresses))
    return answer


def sorted_addresses(running: list[ObservedContainer]) -> list[str]:
    return [c.address for c in sorted(running, key=lambda c: c.index) if c.address]


async def serve_slots(
    nc: Client, docker: aiodocker.Docker, instance: str, host: str, memory: MemoryStore
) -> Subscription:
    async def answer(data: bytes) -> ServingSlots:
        decode(data, ListServingSlots)
        snapshot = memory.snapshot()  # before the engine is listed, as the holdings are
        return ServingSlots(host=host, slots=serving_slots(await observe(docker, instance), snapshot))

    return await answer_or_stay_silent(nc, serving_slots_subject(host), answer, "serving slots")
