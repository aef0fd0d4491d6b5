"""Process types end to end against real Docker and NATS (ADR 0026 §1-3): a formation's rollout
(web x2 and a worker flipped together), a scale of the live release, a failing release command."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from agent_harness import Harness, eventually, get_text, release
from berth_agent.state import CrashPolicy
from berth_shared import labels
from berth_shared.contracts.builds import BuildLog
from berth_shared.contracts.containers import ContainerExited, ContainerStarted
from berth_shared.contracts.desired import DesiredRelease
from berth_shared.contracts.processes import ProcessSpec, ReleaseCommand
from berth_shared.contracts.releases import AppCrashed, ReleaseFailed, ReleaseLive, ReleaseStep
from berth_shared.netplan import shared_range, slot_address

pytestmark = pytest.mark.integration

WORKER = ["/bin/sh", "-c", "echo working; exec sleep 3600"]


def formation(image: str, web: int = 2, worker: int = 1, **fields: Any) -> DesiredRelease:
    processes = [ProcessSpec(name="web", count=web), ProcessSpec(name="worker", command=WORKER, count=worker)]
    return release(image, processes=processes, **fields)


async def deploy(h: Harness, app_id: str, rel: DesiredRelease) -> ReleaseLive | ReleaseFailed:
    await h.api.set_release(app_id, rel)
    return await h.events.wait_outcome(rel.release_id)


async def by_process(h: Harness, app_id: str, release_id: str | None = None) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for container in await h.containers(app_id, release_id):
        process = container["Config"]["Labels"].get(labels.PROCESS, "web")
        found.setdefault(process, []).append(container)
    return found


async def test_web_twice_and_a_worker_flip_together_and_no_old_instance_outlives_the_rollout(
    harness: Harness, test_images: dict[str, str]
) -> None:
    await harness.start_agent()
    app = harness.new_app()
    first = formation(test_images["v1"])
    live = await deploy(harness, app.app_id, first)
    assert isinstance(live, ReleaseLive), live
    fixed_a, extra = slot_address(app.subnet, "a"), shared_range(app.subnet)[0]
    assert live.slot == "a" and live.addresses == [fixed_a, extra]
    assert harness.router.switches[-1].addresses == [fixed_a, extra]
    for address in live.addresses:  # every web instance serves
        assert await get_text(f"http://{address}:8080/") == "v1\n"
    running = await by_process(harness, app.app_id, first.release_id)
    assert sorted(c["Config"]["Labels"][labels.INDEX] for c in running["web"]) == ["0", "1"]
    [worker] = running["worker"]
    assert worker["State"]["Running"] and worker["Config"]["Cmd"] == WORKER
    assert worker["HostConfig"]["CapDrop"] == ["ALL"] and not worker["HostConfig"]["Privileged"]
    ready = harness.events.of(ReleaseStep, release_id=first.release_id, step="process.ready")
    assert [(s.process, s.instance) for s in ready] == [("worker", 0)]

    second = formation(test_images["v2"])
    flipped = await deploy(harness, app.app_id, second)
    assert isinstance(flipped, ReleaseLive), flipped
    assert flipped.slot == "b" and flipped.addresses[0] == slot_address(app.subnet, "b")
    assert len(flipped.addresses) == 2 and extra not in flipped.addresses  # the old web.1 still held it
    for address in flipped.addresses:
        assert await get_text(f"http://{address}:8080/") == "v2\n"

    def last_step_done() -> list[ReleaseStep]:
        return harness.events.of(ReleaseStep, release_id=second.release_id, step="old.stopped", process="worker")

    await eventually(last_step_done, timeout=30)
    assert await harness.containers(app.app_id, first.release_id) == []  # no old worker, no old web
    steps = harness.events.of(ReleaseStep, release_id=second.release_id)
    assert steps[-1].step == "old.stopped" and steps[-1].process == "worker"
    switched = [s.step for s in steps].index("proxy.switched")
    assert all(s.step != "old.stopped" for s in steps[:switched])  # nothing old stopped before the switch
    assert {p: len(c) for p, c in (await by_process(harness, app.app_id)).items()} == {"web": 2, "worker": 1}


async def test_the_live_release_scales_up_and_down_in_place(harness: Harness, test_images: dict[str, str]) -> None:
    await harness.start_agent()
    app = harness.new_app()
    rel = formation(test_images["v1"], web=1, worker=1)
    live = await deploy(harness, app.app_id, rel)
    assert isinstance(live, ReleaseLive), live

    up = msgspec.structs.replace(rel, status="live", processes=formation("x", web=2, worker=3).processes)
    await harness.api.set_release(app.app_id, up)

    async def counts() -> dict[str, int]:
        return {p: sum(c["State"]["Running"] for c in cs) for p, cs in (await by_process(harness, app.app_id)).items()}

    async def scaled_to(wanted: dict[str, int]) -> bool:
        return await counts() == wanted

    await eventually(lambda: scaled_to({"web": 2, "worker": 3}), timeout=60)
    switch = await eventually(lambda: [s for s in harness.router.switches if len(s.addresses) == 2], timeout=30)
    assert switch[0].slot == "a" and switch[0].release_id == rel.release_id
    for address in switch[0].addresses:
        assert await get_text(f"http://{address}:8080/") == "v1\n"
    # The API and the health service learn the new set: ReleaseLive of the same release again.
    relive = await eventually(
        lambda: [e for e in harness.events.of(ReleaseLive, release_id=rel.release_id) if len(e.addresses) == 2]
    )
    assert relive[-1].addresses == switch[0].addresses

    down = msgspec.structs.replace(up, processes=formation("x", web=1, worker=1).processes)
    await harness.api.set_release(app.app_id, down)
    await eventually(lambda: scaled_to({"web": 1, "worker": 1}), timeout=60)
    assert harness.router.switches[-1].addresses == [slot_address(app.subnet, "a")]
    assert await get_text(f"http://{slot_address(app.subnet, 'a')}:8080/") == "v1\n"
    assert harness.events.of(ReleaseStep, release_id=rel.release_id, step="process.scaled")
    assert harness.events.of(ReleaseLive, release_id=rel.release_id)[-1].addresses == [slot_address(app.subnet, "a")]

    # Web to 0: the router is told there is no instance (its 503 page at once); back to 1: served again.
    none = msgspec.structs.replace(up, processes=formation("x", web=0, worker=1).processes)
    await harness.api.set_release(app.app_id, none)
    await eventually(lambda: scaled_to({"worker": 1}), timeout=60)
    last = harness.router.switches[-1]
    assert (last.no_instances, last.addresses) == (True, [])
    assert harness.events.of(ReleaseLive, release_id=rel.release_id)[-1].no_instances  # health: nothing to check
    await harness.api.set_release(app.app_id, down)
    await eventually(lambda: scaled_to({"web": 1, "worker": 1}), timeout=60)
    back = await eventually(lambda: [s for s in harness.router.switches[-1:] if not s.no_instances], timeout=30)
    assert back[0].addresses and await get_text(f"http://{back[0].addresses[0]}:8080/") == "v1\n"


async def test_a_worker_only_release_tells_the_proxy_there_is_no_web_instance(
    harness: Harness, test_images: dict[str, str]
) -> None:
    await harness.start_agent()
    app = harness.new_app()
    first = formation(test_images["v1"], web=1)
    assert isinstance(await deploy(harness, app.app_id, first), ReleaseLive)
    workers = formation(test_images["v1"], web=0, worker=1)
    live = await deploy(harness, app.app_id, workers)
    assert isinstance(live, ReleaseLive) and live.no_instances, live
    switch = [s for s in harness.router.switches if s.release_id == workers.release_id]
    assert [(s.no_instances, s.addresses) for s in switch] == [(True, [])]

    async def only_workers() -> bool:  # the old web is drained and removed after the switch
        return list(await by_process(harness, app.app_id)) == ["worker"]

    await eventually(only_workers, timeout=30)


async def test_a_failing_release_command_fails_the_release_and_the_old_one_keeps_serving(
    harness: Harness, test_images: dict[str, str]
) -> None:
    await harness.start_agent()
    app = harness.new_app()
    first = formation(test_images["v1"], web=1, worker=1)
    assert isinstance(await deploy(harness, app.app_id, first), ReleaseLive)
    old = sorted(c["Id"] for c in await harness.containers(app.app_id))

    migrate = ["/bin/sh", "-c", "echo migrating; echo 'table locked' >&2; exit 3"]
    second = formation(test_images["v2"], web=1, worker=1, release_command=ReleaseCommand(command=migrate))
    failed = await deploy(harness, app.app_id, second)
    assert isinstance(failed, ReleaseFailed), failed
    assert failed.reason.startswith("release command exited with 3: ")
    assert "migrating" in failed.reason and "table locked" in failed.reason

    logged = [line for chunk in harness.events.of(BuildLog, release_id=second.release_id) for line in chunk.lines]
    assert all(c.source == "release" for c in harness.events.of(BuildLog, release_id=second.release_id))
    assert "migrating" in logged and "table locked" in logged
    steps = harness.events.steps(second.release_id)
    assert "release_command.started" in steps and "release_command.finished" in steps
    assert "container.created" not in steps  # nothing of the new release was started
    assert sorted(c["Id"] for c in await harness.containers(app.app_id)) == old  # the command's container is gone
    assert await get_text(f"http://{slot_address(app.subnet, 'a')}:8080/") == "v1\n"


async def test_a_release_command_that_succeeds_runs_before_anything_new_starts(
    harness: Harness, test_images: dict[str, str]
) -> None:
    await harness.start_agent()
    app = harness.new_app()
    rel = formation(test_images["v1"], web=1, worker=0, release_command=ReleaseCommand(command=["echo", "migrated"]))
    live = await deploy(harness, app.app_id, rel)
    assert isinstance(live, ReleaseLive), live
    steps = harness.events.steps(rel.release_id)
    assert steps.index("release_command.finished") < steps.index("container.created")
    finished = harness.events.of(ReleaseStep, release_id=rel.release_id, step="release_command.finished")[0]
    assert finished.detail.startswith("exit code 0") and finished.process == "release"
    logged = [line for chunk in harness.events.of(BuildLog, release_id=rel.release_id) for line in chunk.lines]
    assert logged == ["migrated"]
    assert [c["Config"]["Labels"].get(labels.PROCESS) for c in await harness.containers(app.app_id)] == ["web"]


async def test_a_worker_that_keeps_crashing_is_given_up_alone_and_web_keeps_serving(
    harness: Harness, test_images: dict[str, str]
) -> None:
    await harness.start_agent(policy=CrashPolicy(backoff_seconds=(0.1,), limit=3, window_seconds=120))
    app = harness.new_app()
    dying = ProcessSpec(name="worker", command=["/bin/sh", "-c", "sleep 2.5; exit 4"])
    rel = release(test_images["v1"], processes=[ProcessSpec(name="web"), dying])
    assert isinstance(await deploy(harness, app.app_id, rel), ReleaseLive)

    crashed = await harness.events.wait_for(AppCrashed, timeout=60, release_id=rel.release_id)
    assert crashed.process == "worker" and crashed.exit_code == 4 and crashed.restarts == 2
    starts = harness.events.of(ContainerStarted, release_id=rel.release_id, process="worker")
    assert len(starts) == 3 and len({s.container_id for s in starts}) == 1  # started again in place, twice
    assert harness.events.of(ContainerStarted, release_id=rel.release_id, process="web") != []
    assert await get_text(f"http://{slot_address(app.subnet, 'a')}:8080/") == "v1\n"
    [web] = (await by_process(harness, app.app_id))["web"]
    assert web["State"]["Running"]
    assert [e.process for e in harness.events.of(ContainerExited, release_id=rel.release_id)] == ["worker"] * 3
    assert harness.events.of(AppCrashed, release_id=rel.release_id, process="web") == []


async def test_a_release_command_past_its_timeout_is_stopped_and_fails_the_release(
    harness: Harness, test_images: dict[str, str]
) -> None:
    await harness.start_agent()
    app = harness.new_app()
    slow = ReleaseCommand(command=["/bin/sh", "-c", "echo started; exec sleep 60"], timeout_seconds=1)
    rel = formation(test_images["v1"], web=1, worker=0, release_command=slow)
    failed = await deploy(harness, app.app_id, rel)
    assert isinstance(failed, ReleaseFailed), failed
    assert failed.reason == "release command timed out after 1 s: started"
    assert await harness.containers(app.app_id) == []


async def test_a_release_command_survives_an_agent_restart_and_is_awaited_not_run_again(
    harness: Harness, test_images: dict[str, str]
) -> None:
    agent = await harness.start_agent()
    app = harness.new_app()
    migrate = ReleaseCommand(command=["/bin/sh", "-c", "echo begin; sleep 4; echo end"])
    rel = formation(test_images["v1"], web=1, worker=0, release_command=migrate)
    await harness.api.set_release(app.app_id, rel)

    def started_commands() -> list[ContainerStarted]:
        return harness.events.of(ContainerStarted, release_id=rel.release_id, process="release")

    await eventually(started_commands, timeout=30)
    await harness.kill_agent(agent)
    [command] = (await by_process(harness, app.app_id))["release"]
    assert command["State"]["Running"]  # the agent's stop did not stop the migration

    await harness.start_agent()
    live = await harness.events.wait_outcome(rel.release_id, timeout=60)
    assert isinstance(live, ReleaseLive), live
    assert len(started_commands()) == 1  # awaited, never started again
    finished = harness.events.of(ReleaseStep, release_id=rel.release_id, step="release_command.finished")
    assert [s.detail.split(" in ")[0] for s in finished] == ["exit code 0"]
    assert "release" not in await by_process(harness, app.app_id)


async def test_old_workers_get_sigterm_then_sigkill_after_the_stop_timeout(
    harness: Harness, test_images: dict[str, str]
) -> None:
    """A worker that leaves on SIGTERM goes at once with its own exit code; one that ignores it is
    killed once the stop timeout has passed, and neither outlives the rollout."""
    await harness.start_agent()
    app = harness.new_app()
    graceful = ProcessSpec(
        name="graceful", command=["/bin/sh", "-c", "trap 'echo bye; exit 0' TERM; while :; do sleep 0.2; done"]
    )
    stubborn = ProcessSpec(name="stubborn", command=["/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.2; done"])

    def rel(image: str) -> DesiredRelease:
        return release(image, processes=[ProcessSpec(name="web"), graceful, stubborn], stop_timeout_seconds=3)

    first, second = rel(test_images["v1"]), rel(test_images["v2"])
    assert isinstance(await deploy(harness, app.app_id, first), ReleaseLive)
    assert isinstance(await deploy(harness, app.app_id, second), ReleaseLive)

    def stopped() -> list[ReleaseStep]:
        steps = harness.events.of(ReleaseStep, release_id=second.release_id, step="old.stopped")
        return steps if {s.process for s in steps} >= {"graceful", "stubborn"} else []

    steps = {s.process: s for s in await eventually(stopped, timeout=60)}
    assert steps["graceful"].duration_ms < 3000 <= steps["stubborn"].duration_ms
    assert "timeout 3s" in steps["stubborn"].detail

    def exits() -> dict[str, ContainerExited]:
        found = {e.process: e for e in harness.events.of(ContainerExited, release_id=first.release_id)}
        return found if {"graceful", "stubborn"} <= set(found) else {}

    exited = await eventually(exits, timeout=30)
    assert (exited["graceful"].exit_code, exited["graceful"].expected) == (0, True)  # left on SIGTERM
    assert (exited["stubborn"].exit_code, exited["stubborn"].expected) == (137, True)  # SIGKILL
    assert await harness.containers(app.app_id, first.release_id) == []


async def test_every_process_runs_the_release_image_and_env_with_its_own_limits_and_only_web_is_routed(
    harness: Harness, test_images: dict[str, str]
) -> None:
    await harness.start_agent()
    app = harness.new_app()
    worker = ProcessSpec(name="worker", command=WORKER, memory_mb=64, cpus=0.25)
    rel = release(test_images["v1"], processes=[ProcessSpec(name="web"), worker], env={"GREETING": "hello"})
    live = await deploy(harness, app.app_id, rel)
    assert isinstance(live, ReleaseLive), live
    assert live.addresses == [slot_address(app.subnet, "a")]  # the worker is not behind the proxy
    found = await by_process(harness, app.app_id, rel.release_id)
    [web], [work] = found["web"], found["worker"]
    assert work["Image"] == web["Image"]  # the release's image
    for container in (web, work):
        env = dict(e.split("=", 1) for e in container["Config"]["Env"])
        assert (env["GREETING"], env["BERTH_RELEASE"], env["BERTH_APP"]) == ("hello", rel.release_id, app.name)
        assert not container["HostConfig"]["PortBindings"] and not container["Config"].get("ExposedPorts")
    assert (work["HostConfig"]["Memory"], work["HostConfig"]["NanoCpus"]) == (64 << 20, 250_000_000)
    assert (web["HostConfig"]["Memory"], web["HostConfig"]["NanoCpus"]) == (256 << 20, 500_000_000)  # the app's
    assert (
        work["HostConfig"]["CapDrop"] == ["ALL"]
        and work["HostConfig"]["SecurityOpt"] == web["HostConfig"]["SecurityOpt"]
    )
