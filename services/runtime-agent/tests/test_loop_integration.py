"""The agent end to end against real Docker and NATS: deploys, failures, recovery, crashes, deletion."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import msgspec
import pytest
from agent_harness import Harness, eventually, get_text, release
from berth_shared import bus, labels
from berth_shared.contracts.agent import AgentStatus, AgentStatusRequest, agent_status_subject
from berth_shared.contracts.containers import ContainerExited, ContainerStarted
from berth_shared.contracts.desired import Resources
from berth_shared.contracts.releases import AppCleanedUp, AppCrashed, ReleaseFailed, ReleaseLive, ReleaseStep
from berth_shared.netplan import slot_address

pytestmark = pytest.mark.integration

ROLLOUT_STEPS = [
    "image.resolved",
    "network.ready",
    "container.created",
    "container.started",
    "health.passed",
    "proxy.switched",
]


def url(subnet: str, slot: str) -> str:
    return f"http://{slot_address(subnet, slot)}:8080/"  # type: ignore[arg-type]


async def deploy_live(h: Harness, app_id: str, image: str, **fields: Any) -> ReleaseLive:
    rel = release(image, **fields)
    await h.api.set_release(app_id, rel)
    outcome = await h.events.wait_outcome(rel.release_id)
    assert isinstance(outcome, ReleaseLive), outcome
    return outcome


async def test_first_deploy_goes_live_at_slot_a(harness: Harness, test_images: dict[str, str]) -> None:
    await harness.start_agent()
    app = harness.new_app()
    live = await deploy_live(harness, app.app_id, test_images["v1"])

    assert live.slot == "a" and live.image_digest.startswith("sha256:")
    assert await get_text(url(app.subnet, "a")) == "v1\n"
    assert harness.events.steps(live.release_id) == ROLLOUT_STEPS
    started = harness.events.of(ReleaseStep, release_id=live.release_id, step="container.started")[0]
    assert started.slot == "a" and started.detail == f"{slot_address(app.subnet, 'a')}:8080"
    await harness.events.wait_for(ContainerStarted, release_id=live.release_id)

    # A second reconcile with nothing changed changes nothing.
    before = [c["Id"] for c in await harness.containers(app.app_id)]
    await harness.api.reconcile(app.app_id)
    await eventually(harness.commands_done, timeout=10)
    assert [c["Id"] for c in await harness.containers(app.app_id)] == before
    assert len(harness.events.of(ReleaseLive, release_id=live.release_id)) == 1


async def test_redeploy_flips_slots_and_removes_the_old_container(
    harness: Harness, test_images: dict[str, str]
) -> None:
    await harness.start_agent()
    app = harness.new_app()
    first = await deploy_live(harness, app.app_id, test_images["v1"])
    second = await deploy_live(harness, app.app_id, test_images["v2"])

    assert (first.slot, second.slot) == ("a", "b")
    assert harness.router.slots_of(app.app_id) == ["a", "b"]  # the proxy was switched before each went live
    assert await get_text(url(app.subnet, "b")) == "v2\n"
    # The old slot is drained and stopped as the release's next steps, after it went live.
    await harness.events.wait_for(ReleaseStep, release_id=second.release_id, step="old.stopped")
    assert harness.events.steps(second.release_id) == [*ROLLOUT_STEPS, "old.drained", "old.stopped"]
    live_at = next(i for i, m in enumerate(harness.events.messages) if m == second)
    drained = harness.events.of(ReleaseStep, release_id=second.release_id, step="old.drained")[0]
    assert harness.events.messages.index(drained) > live_at
    # Nothing was in flight on the old slot: the drain did not wait for anything.
    assert "requests: none in flight after 0.0" in drained.detail, drained.detail
    containers = await harness.containers(app.app_id)
    assert [c["Config"]["Labels"][labels.RELEASE] for c in containers] == [second.release_id]
    exited = await harness.events.wait_for(ContainerExited, release_id=first.release_id)
    assert exited.expected


async def test_missing_image_fails_with_a_reason_and_v1_keeps_serving(
    harness: Harness, test_images: dict[str, str]
) -> None:
    await harness.start_agent()
    app = harness.new_app()
    first = await deploy_live(harness, app.app_id, test_images["v1"])
    broken = release("berth-test/web:does-not-exist")
    await harness.api.set_release(app.app_id, broken)

    failed = await harness.events.wait_outcome(broken.release_id)
    assert isinstance(failed, ReleaseFailed)
    assert failed.reason == "image not found: berth-test/web:does-not-exist"
    assert await get_text(url(app.subnet, "a")) == "v1\n"
    containers = await harness.containers(app.app_id)
    assert [c["Config"]["Labels"][labels.RELEASE] for c in containers] == [first.release_id]


async def test_deaf_release_fails_on_its_deadline_and_v1_keeps_serving(
    harness: Harness, test_images: dict[str, str]
) -> None:
    await harness.start_agent()
    app = harness.new_app()
    first = await deploy_live(harness, app.app_id, test_images["v1"])
    deaf = release(test_images["deaf"], deadline_seconds=3)
    await harness.api.set_release(app.app_id, deaf)

    failed = await harness.events.wait_outcome(deaf.release_id)
    assert isinstance(failed, ReleaseFailed)
    assert failed.reason.startswith("not ready within 3s: GET http://")
    assert await get_text(url(app.subnet, "a")) == "v1\n"
    assert await harness.containers(app.app_id, deaf.release_id) == []
    assert len(await harness.containers(app.app_id, first.release_id)) == 1

    # The failed release is remembered: another reconcile does not try it again.
    await harness.api.reconcile(app.app_id)
    await eventually(harness.commands_done, timeout=10)
    assert harness.events.steps(deaf.release_id).count("container.created") == 1


async def test_docker_inspect_proves_the_hardening(harness: Harness, test_images: dict[str, str]) -> None:
    await harness.start_agent()
    app = harness.new_app(resources=Resources(memory_mb=128, cpus=0.25, pids=64))
    live = await deploy_live(harness, app.app_id, test_images["v1"], env={"GREETING": "hello"})

    (inspected,) = await harness.containers(app.app_id)
    host = inspected["HostConfig"]
    assert host["Privileged"] is False
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert (host["Memory"], host["NanoCpus"], host["PidsLimit"]) == (128 * 1024 * 1024, 250_000_000, 64)
    assert not host.get("Binds") and not host.get("Mounts") and not host.get("Devices")
    assert not host["PortBindings"] and not host["PublishAllPorts"]
    assert host["NetworkMode"] not in ("host", "bridge", "default") and host["PidMode"] == ""
    assert host["IpcMode"] == "private"
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "2", "max-size": "50m"}}
    assert inspected["Mounts"] == []
    assert not inspected["NetworkSettings"]["Ports"]
    (network,) = inspected["NetworkSettings"]["Networks"].values()
    assert network["IPAddress"] == slot_address(app.subnet, "a")
    env = dict(e.split("=", 1) for e in inspected["Config"]["Env"])
    assert env["PORT"] == "8080" and env["GREETING"] == "hello"
    assert (env["BERTH_APP"], env["BERTH_RELEASE"], env["BERTH_HOSTNAME"]) == ("web", live.release_id, app.hostname)
    assert inspected["Name"] == f"/berth-{harness.instance}-web-a-{live.release_id[:8]}"


async def test_killed_mid_rollout_the_next_agent_finishes_it(harness: Harness, test_images: dict[str, str]) -> None:
    first_agent = await harness.start_agent()
    app = harness.new_app()
    first = await deploy_live(harness, app.app_id, test_images["v1"])
    second = release(test_images["v2"])
    await harness.api.set_release(app.app_id, second)
    await harness.events.wait_for(ReleaseStep, release_id=second.release_id, step="container.started")
    await harness.kill_agent(first_agent)
    assert len(await harness.containers(app.app_id)) == 2  # both slots: the rollout was cut short

    await harness.start_agent()
    live = await harness.events.wait_for(ReleaseLive, release_id=second.release_id)
    assert live.slot == "b"
    await harness.events.wait_for(ReleaseStep, release_id=second.release_id, step="old.stopped")
    assert await harness.containers(app.app_id, first.release_id) == []
    assert len(await harness.containers(app.app_id, second.release_id)) == 1
    assert harness.events.steps(second.release_id).count("container.created") == 1
    assert await get_text(url(app.subnet, "b")) == "v2\n"


async def test_crashing_live_release_is_restarted_with_backoff_then_reported(
    harness: Harness, test_images: dict[str, str]
) -> None:
    await harness.start_agent()
    app = harness.new_app()
    crashing = release(test_images["crash"], status="live")  # live, e.g. before a reboot; it now dies at once
    await harness.api.set_release(app.app_id, crashing)

    crashed = await harness.events.wait_for(AppCrashed, timeout=90, release_id=crashing.release_id)
    assert (crashed.exit_code, crashed.restarts) == (3, 4)
    exits = harness.events.of(ContainerExited, release_id=crashing.release_id)
    assert len(exits) == 5 and all(e.exit_code == 3 and not e.expected for e in exits)
    assert len(harness.events.of(ContainerStarted, release_id=crashing.release_id)) == 5
    starts = [m.at for m in harness.events.of(ContainerStarted, release_id=crashing.release_id)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    # Each restart waits its backoff (1, 2, 4, 8 s); starting the container adds a little on top.
    for gap, backoff in zip(gaps, (1, 2, 4, 8), strict=True):
        assert backoff - 0.05 <= gap.total_seconds() < backoff + 2.0, [g.total_seconds() for g in gaps]
    (container,) = await harness.containers(app.app_id)
    assert container["State"]["Status"] == "exited"


async def test_a_live_container_the_engine_refuses_to_start_is_replaced_by_a_fresh_one(
    harness: Harness, test_images: dict[str, str]
) -> None:
    agent = await harness.start_agent()
    app = harness.new_app()
    live = await deploy_live(harness, app.app_id, test_images["v1"])
    desired = harness.api.apps[app.app_id]
    assert desired.release is not None  # the API records it live, as the real one does on ReleaseLive
    live_release = msgspec.structs.replace(desired.release, status="live")
    harness.api.apps[app.app_id] = msgspec.structs.replace(desired, release=live_release)
    await harness.kill_agent(agent)
    # While no agent runs, the live container stops and its network goes: the engine now refuses
    # to start that container again ("network … not found"), as it refuses one whose task it lost.
    (old,) = await harness.containers(app.app_id)
    await harness.docker.containers.container(old["Id"]).stop(t=1)
    (network,) = await harness.networks(app.app_id)
    await (await harness.docker.networks.get(network["Id"])).delete()

    await harness.start_agent()
    assert await eventually(lambda: get_text(url(app.subnet, "a")), timeout=60) == "v1\n"
    (fresh,) = await harness.containers(app.app_id)
    assert fresh["Id"] != old["Id"] and fresh["State"]["Running"]
    assert fresh["Config"]["Labels"][labels.RELEASE] == live.release_id
    assert harness.events.of(ReleaseFailed, release_id=live.release_id) == []
    assert harness.events.of(AppCrashed, release_id=live.release_id) == []


async def test_a_live_release_that_can_never_run_again_ends_crashed_with_the_reason(
    harness: Harness, test_images: dict[str, str]
) -> None:
    await harness.start_agent()
    app = harness.new_app()
    gone = "127.0.0.1:1/berth-test/gone:v1"  # not on the host; its registry refuses every pull
    doomed = release(gone, status="live")  # live, e.g. before the engine's data was lost
    await harness.api.set_release(app.app_id, doomed)

    crashed = await harness.events.wait_for(AppCrashed, timeout=120, release_id=doomed.release_id)
    assert f"image not found: {gone}" in crashed.reason and "5 attempts" in crashed.reason, crashed.reason
    assert harness.events.of(ReleaseFailed, release_id=doomed.release_id) == []  # live stays live
    # Given up: a reconcile now changes nothing and reports nothing new.
    await harness.api.reconcile(app.app_id)
    await eventually(harness.commands_done, timeout=10)
    assert len(harness.events.of(AppCrashed, release_id=doomed.release_id)) == 1
    assert await harness.containers(app.app_id) == []


async def test_deleting_an_app_removes_its_containers_and_network(
    harness: Harness, test_images: dict[str, str]
) -> None:
    await harness.start_agent()
    app = harness.new_app()
    await deploy_live(harness, app.app_id, test_images["v1"])
    assert len(await harness.networks(app.app_id)) == 1
    harness.api.apps[app.app_id] = msgspec.structs.replace(harness.api.apps[app.app_id], deleted=True)
    await harness.api.reconcile(app.app_id)

    cleaned = await harness.events.wait_for(AppCleanedUp, app_id=app.app_id)
    assert cleaned.host == harness.host
    assert await harness.containers(app.app_id) == []
    assert await harness.networks(app.app_id) == []


async def test_orphans_are_removed_on_the_periodic_resync(harness: Harness, test_images: dict[str, str]) -> None:
    await harness.start_agent()
    app = harness.new_app()
    await deploy_live(harness, app.app_id, test_images["v1"])
    del harness.api.apps[app.app_id]  # the API no longer knows the app at all

    await harness.events.wait_for(AppCleanedUp, timeout=30, app_id=app.app_id)
    assert await harness.containers(app.app_id) == []
    assert await harness.networks(app.app_id) == []


async def test_status_request_reports_the_engine(harness: Harness, test_images: dict[str, str]) -> None:
    await harness.start_agent()
    app = harness.new_app()
    await deploy_live(harness, app.app_id, test_images["v1"])
    status = await bus.request(
        harness.api.nc, agent_status_subject(harness.host), AgentStatusRequest(), AgentStatus, timeout=5
    )
    assert status.engine_ok and status.host == harness.host and status.containers == 1


async def test_the_app_bridge_re_asks_for_unresolved_slots_every_100_ms(
    harness: Harness, test_images: dict[str, str]
) -> None:
    """A slot dialled before its container is up (the proxy's fallback during a first deploy) leaves
    the host waiting on an unanswered ARP request; on the app's bridge it is asked again within
    100 ms, not the kernel's default second (bench/deploy_latency measures what it saves)."""
    await harness.start_agent()
    app = harness.new_app()
    await deploy_live(harness, app.app_id, test_images["v1"])
    (network,) = await harness.networks(app.app_id)
    setting = f"/proc/sys/net/ipv4/neigh/br-{network['Id'][:12]}/retrans_time_ms"
    assert (await asyncio.to_thread(Path(setting).read_text)).strip() == "100"
