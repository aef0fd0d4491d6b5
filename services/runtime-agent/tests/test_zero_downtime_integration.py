"""Zero-downtime details against real Docker, iptables and NATS: the drain of the old slot,
leftover drain rules, hard restarts in place, and image pruning."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import aiodocker
import msgspec
import pytest
from agent_harness import Harness, eventually, get_text, release
from berth_agent.drain import decide as netfilter
from berth_agent.drain.decide import DrainRule
from berth_shared.contracts.containers import ContainerExited
from berth_shared.contracts.releases import AppCleanedUp, AppCrashed, ReleaseLive, ReleaseStep
from berth_shared.netplan import slot_address
from berth_testing import build_busybox_image
from local_registry import local_registry, registry_only_image

pytestmark = pytest.mark.integration


def url(subnet: str, slot: str, path: str = "/") -> str:
    return f"http://{slot_address(subnet, slot)}:8080{path}"  # type: ignore[arg-type]


async def deploy_live(h: Harness, app_id: str, image: str, keep: list[str] | None = None, **fields: Any) -> ReleaseLive:
    rel = release(image, **fields)
    await h.api.set_release(app_id, rel, keep=keep)
    outcome = await h.events.wait_outcome(rel.release_id)
    assert isinstance(outcome, ReleaseLive), outcome
    return outcome


async def refused(address: str, port: int = 8080) -> bool:
    """True when a new TCP connection is reset at once (the drain rule), False when it opens."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), 2)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


def insert_rule(rule: DrainRule) -> None:
    for chain in netfilter.CHAINS:
        subprocess.run(["iptables", *netfilter.insert_args(chain, rule)], check=True, capture_output=True)


def rules_of_instance(instance: str) -> list[netfilter.ListedRule]:
    found = []
    for chain in netfilter.CHAINS:
        listing = subprocess.run(["iptables", *netfilter.list_args(chain)], capture_output=True, text=True).stdout
        found += [r for r in netfilter.parse_listing(chain, listing) if r.instance == instance]
    return found


def delete_rule(rule: DrainRule) -> None:
    for chain in netfilter.CHAINS:
        subprocess.run(["iptables", *netfilter.WAIT, "-D", chain, *rule.spec()], capture_output=True)


IGNORE_SIGTERM = "trap '' TERM; exec httpd -f -p 8080 -h /www"


def sigterm_sent(container_id: str, since: float) -> bool:
    """True once the engine has sent SIGTERM to the container (``docker stop`` was called)."""
    window = ["--since", f"{since:.3f}", "--until", f"{time.time():.3f}"]
    only = ["--filter", f"container={container_id}", "--filter", "event=kill"]
    command = ["docker", "events", *window, *only, "--format", "{{.Actor.Attributes.signal}}"]
    signals = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()
    return "15" in signals


async def test_after_going_live_the_old_slot_refuses_new_connections_and_is_stopped_once_its_requests_finish(
    harness: Harness, test_images: dict[str, str]
) -> None:
    await harness.start_agent()
    app = harness.new_app()
    # The old slot ignores SIGTERM: it stays up for the whole stop timeout, so the drain lasts
    # until this test ends it (its checks do not race the drain's timers on a busy machine).
    stubborn = await asyncio.to_thread(
        build_busybox_image, "berth-test/web:stubborn", "v1\n", ["/bin/sh", "-c", IGNORE_SIGTERM]
    )
    first = await deploy_live(harness, app.app_id, stubborn)
    old = slot_address(app.subnet, "a")
    reader, writer = await asyncio.open_connection(old, 8080)  # in flight when the drain starts
    second = release(test_images["v2"], stop_timeout_seconds=600)
    started = time.time()
    try:
        await harness.api.set_release(app.app_id, second)
        # Live as soon as the proxy serves the new slot: the old one is drained afterwards.
        live = await harness.events.wait_outcome(second.release_id)
        assert isinstance(live, ReleaseLive) and live.slot == "b"
        assert harness.router.slots_of(app.app_id) == ["a", "b"]
        # OUTPUT is inserted first, FORWARD a moment later: wait for both (polled every 20 ms).
        rules = await eventually(lambda: len(found := harness.drain_rules(app.app_id)) >= 2 and found, 60, 0.02)
        assert sorted((r.chain, r.slot) for r in rules) == [("FORWARD", "a"), ("OUTPUT", "a")]
        # A new connection is reset at once, and the new slot serves...
        assert await refused(old)
        assert await get_text(url(app.subnet, "b")) == "v2\n"
        # ...while the drain waits for the request in flight: the old container got no SIGTERM.
        assert not sigterm_sent(first.container_id, since=started)
        assert harness.events.of(ReleaseStep, release_id=second.release_id, step="old.drained") == []

        writer.write(b"GET / HTTP/1.0\r\nHost: web\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)
        assert answer.startswith(b"HTTP/1.") and answer.endswith(b"v1\n")
    finally:
        writer.close()
        # The request answered, the drain goes on: the agent asks the engine to stop the old
        # container (SIGTERM, which it ignores); end the stop timeout by killing it.
        await eventually(lambda: asyncio.to_thread(sigterm_sent, first.container_id, started), 120, 0.2)
        await harness.docker.containers.container(first.container_id).kill()

    drained = await harness.events.wait_for(ReleaseStep, release_id=second.release_id, step="old.drained")
    assert drained.detail.startswith(f"new connections to {old}:8080 refused; requests: none in flight after ")
    await harness.events.wait_for(ReleaseStep, release_id=second.release_id, step="old.stopped")
    await eventually(lambda: harness.drain_rules(app.app_id) == [], 10, 0.05)  # the drain's end removes them
    assert harness.events.of(AppCrashed, app_id=app.app_id) == []  # a stop that was asked for

    # The slot's address is usable again: the next release lands in slot a and serves there.
    third = await deploy_live(harness, app.app_id, test_images["v1"])
    assert third.slot == "a" and await get_text(url(app.subnet, "a")) == "v1\n"
    await harness.events.wait_for(ReleaseStep, release_id=third.release_id, step="old.stopped")
    await eventually(lambda: harness.drain_rules(app.app_id) == [], 10, 0.05)


async def test_rules_left_behind_by_a_crashed_agent_are_removed(harness: Harness, test_images: dict[str, str]) -> None:
    first_agent = await harness.start_agent()
    app = harness.new_app()
    await deploy_live(harness, app.app_id, test_images["v1"])
    await harness.kill_agent(first_agent)
    live_slot = slot_address(app.subnet, "a")
    gone_app = uuid.uuid4().hex  # an app the API does not know any more
    insert_rule(DrainRule(harness.instance, app.app_id, "a", live_slot, 8080))
    insert_rule(DrainRule(harness.instance, gone_app, "b", slot_address(app.subnet, "b"), 8080))
    assert len(harness.drain_rules()) == 4 and await refused(live_slot)

    await harness.start_agent()
    await eventually(lambda: harness.drain_rules() == [], timeout=30)
    assert await get_text(url(app.subnet, "a")) == "v1\n"
    assert len(await harness.containers(app.app_id)) == 1  # the live release was left alone


async def test_a_rule_a_dead_platform_left_on_the_slot_address_does_not_block_the_app_that_holds_it_now(
    harness: Harness, test_images: dict[str, str]
) -> None:
    """Another Berth instance killed mid-drain left its rule; this app's network got the same
    addresses later. Its first deploy must not be refused by that rule until the gate gives up."""
    await harness.start_agent()
    app = harness.new_app()
    slot_a = slot_address(app.subnet, "a")
    dead = DrainRule("deadbeef", uuid.uuid4().hex, "a", slot_a, 8080)
    insert_rule(dead)
    try:
        await deploy_live(harness, app.app_id, test_images["v1"])
        assert await get_text(url(app.subnet, "a")) == "v1\n"
        assert rules_of_instance("deadbeef") == []
    finally:
        delete_rule(dead)  # whatever happened, leave no rule behind


async def test_deleting_an_app_removes_its_drain_rules_and_image_records(
    harness: Harness, test_images: dict[str, str]
) -> None:
    await harness.start_agent()
    app = harness.new_app()
    await deploy_live(harness, app.app_id, test_images["v1"])
    await deploy_live(harness, app.app_id, test_images["v2"])
    pool = harness.agents[0][0].pool
    recorded = await pool.fetch(
        "SELECT ref FROM images WHERE instance = $1 AND app_id = $2 ORDER BY ref", harness.instance, app.app_id
    )
    assert [r["ref"] for r in recorded] == [test_images["v1"], test_images["v2"]]
    insert_rule(DrainRule(harness.instance, app.app_id, "a", slot_address(app.subnet, "a"), 8080))

    harness.api.apps[app.app_id] = msgspec.structs.replace(harness.api.apps[app.app_id], deleted=True)
    await harness.api.reconcile(app.app_id)
    await harness.events.wait_for(AppCleanedUp, app_id=app.app_id)
    assert harness.drain_rules(app.app_id) == []
    count = await pool.fetchval(
        "SELECT count(*) FROM images WHERE instance = $1 AND app_id = $2", harness.instance, app.app_id
    )
    assert count == 0


async def test_hard_restart_restarts_the_live_container_in_place(harness: Harness, test_images: dict[str, str]) -> None:
    await harness.start_agent()
    app = harness.new_app()
    live = await deploy_live(harness, app.app_id, test_images["v1"])
    (before,) = await harness.containers(app.app_id)

    await harness.api.restart_in_place(app.app_id, live.release_id)
    step = await harness.events.wait_for(ReleaseStep, release_id=live.release_id, step="container.restarted")
    assert step.slot == "a" and "restarted in place" in step.detail and "; ready: GET http://" in step.detail
    assert step.duration_ms > 0
    (after,) = await harness.containers(app.app_id)
    assert after["Id"] == before["Id"] == live.container_id
    assert after["State"]["Running"] and after["State"]["StartedAt"] > before["State"]["StartedAt"]
    assert await get_text(url(app.subnet, "a")) == "v1\n"
    exited = await harness.events.wait_for(ContainerExited, release_id=live.release_id)
    assert exited.expected  # asked for: not a crash
    await eventually(harness.commands_done, timeout=10)
    assert harness.events.of(AppCrashed, app_id=app.app_id) == []
    assert len(harness.events.of(ReleaseLive, app_id=app.app_id)) == 1  # no flip, no new release

    # A hard restart of a release that is not the live one changes nothing and is not redelivered.
    await harness.api.restart_in_place(app.app_id, uuid.uuid4().hex)
    await eventually(harness.commands_done, timeout=10)
    (still,) = await harness.containers(app.app_id)
    assert still["State"]["StartedAt"] == after["State"]["StartedAt"]
    assert len(harness.events.of(ReleaseStep, step="container.restarted", app_id=app.app_id)) == 1


async def image_exists(docker: aiodocker.Docker, name: str) -> bool:
    try:
        await docker.images.inspect(name)
    except aiodocker.DockerError as exc:
        if exc.status == 404:
            return False
        raise
    return True


async def test_prune_removes_exactly_the_unkept_unused_images_it_pulled_never_a_users_own(
    harness: Harness, tmp_path: Path
) -> None:
    repo = f"prune-{uuid.uuid4().hex[:8]}/web"
    users_own = f"berth-test/{repo}:mine"  # built on the host by hand, deployed by name
    with local_registry(tmp_path) as registry:
        tags = {
            i: await asyncio.to_thread(registry_only_image, registry, f"{repo}:{i}", f"r{i}\n") for i in range(1, 9)
        }
        await asyncio.to_thread(build_busybox_image, users_own, "mine\n")
        await _prune_scenario(harness, tags, users_own)


async def _prune_scenario(harness: Harness, tags: dict[int, str], users_own: str) -> None:
    try:
        await harness.start_agent()
        agent = await harness.agent()
        app = harness.new_app()
        await deploy_live(harness, app.app_id, users_own, keep=[users_own])  # found: never pruned
        for i in range(1, 8):  # every image kept while it is deployed: no prune removes any yet
            live = await deploy_live(harness, app.app_id, tags[i], keep=[tags[j] for j in range(1, i + 1)])
        assert all([await image_exists(harness.docker, tags[i]) for i in range(1, 8)])

        # The prune after release 7 went live and its old slot was retired (the rollout is done).
        await eventually(harness.commands_done, timeout=30)
        await eventually(lambda: not agent.pruning, timeout=10)
        # The API keeps 5 images, not those of releases 2 and 7; release 7 is serving.
        keep = [tags[1], tags[3], tags[4], tags[5], tags[6]]
        harness.api.apps[app.app_id] = msgspec.structs.replace(harness.api.apps[app.app_id], keep_images=keep)
        decided = await agent.prune_images()
        assert [target.refs for target in decided.remove] == [(tags[2],)]
        present = {tag for tag in [*tags.values(), users_own] if await image_exists(harness.docker, tag)}
        assert present == {*keep, tags[7], users_own}  # 8 is only in the registry so far
        assert await get_text(url(app.subnet, live.slot)) == "r7\n"

        # A rollout prunes after it went live: release 8 keeps the last five (3, 4, 5, 6, 8),
        # so 1 (no longer kept) and 7 (no longer running) go.
        await deploy_live(harness, app.app_id, tags[8])
        gone = {tags[1], tags[7]}

        async def pruned() -> bool:
            return not any([await image_exists(harness.docker, tag) for tag in gone])

        await eventually(pruned, timeout=30)
        await eventually(lambda: not agent.pruning, timeout=10)  # its rows are forgotten too
        present = {tag for tag in [*tags.values(), users_own] if await image_exists(harness.docker, tag)}
        assert present == {tags[3], tags[4], tags[5], tags[6], tags[8], users_own}
        rows = await harness.agents[0][0].pool.fetch(
            "SELECT ref FROM images WHERE instance = $1 AND host = $2 ORDER BY ref", harness.instance, harness.host
        )
        assert [r["ref"] for r in rows] == sorted([tags[3], tags[4], tags[5], tags[6], tags[8], users_own])
    finally:
        await harness.remove_everything()
        for tag in [*tags.values(), users_own]:
            with contextlib.suppress(aiodocker.DockerError):
                await harness.docker.images.delete(tag, force=True)
