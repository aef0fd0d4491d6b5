"""The planner for releases with process types (ADR 0026 §1): decisions as data."""

from __future__ import annotations

from berth_agent.planner import (
    Deploy,
    GiveUp,
    HardRestart,
    RecheckAt,
    Restart,
    Scale,
    Unserved,
    plan,
    plan_hard_restart,
)
from berth_agent.state import (
    ActualState,
    AppMemory,
    Death,
    DesiredState,
    Memory,
    ObservedContainer,
    Serving,
    StartFailure,
)
from berth_shared.contracts.desired import DesiredApp, DesiredRelease
from berth_shared.contracts.processes import ProcessSpec, ReleaseCommand
from berth_shared.netplan import Slot

NOW = 1_000_000.0
APP_ID = "app1"


def release(
    release_id: str = "r2", status: str = "pending", web: int = 2, worker: int = 1, **fields: object
) -> DesiredRelease:
    processes = [ProcessSpec(name="web", count=web), ProcessSpec(name="worker", command=["work"], count=worker)]
    return DesiredRelease(
        release_id=release_id, image=f"img:{release_id}", status=status, processes=processes, **fields
    )  # type: ignore[arg-type]


def app(rel: DesiredRelease | None) -> DesiredApp:
    return DesiredApp(app_id=APP_ID, name="web", hostname="web.test", port=8080, subnet="10.0.0.0/28", release=rel)


def box(
    release_id: str, process: str = "web", index: int = 0, slot: Slot = "a", *, running: bool = True, at: float = 0.0
) -> ObservedContainer:
    return ObservedContainer(
        container_id=f"c-{release_id}-{process}-{index}",
        name=f"berth-x-web-{process}-{index}-{release_id}",
        app_id=APP_ID,
        release_id=release_id,
        slot=slot,
        state="running" if running else "exited",
        finished_at=at,
        exit_code=0 if running else 1,
        process=process,
        index=index,
        address="" if (process, index) == ("web", 0) else f"10.0.0.{4 + index}",
    )


def run(rel: DesiredRelease, *containers: ObservedContainer, **remembered: object) -> list[object]:
    memory = Memory(apps={APP_ID: AppMemory(**remembered)})  # type: ignore[arg-type]
    return list(plan(DesiredState(apps=(app(rel),), scope=None), ActualState(containers=containers), NOW, memory))


def test_a_first_rollout_starts_every_instance_and_runs_the_release_command_first() -> None:
    rel = release(release_command=ReleaseCommand(command=["migrate"]))
    [step] = run(rel)
    assert isinstance(step, Deploy)
    assert step.slot == "a" and step.web and step.release_command and step.adopt is None
    assert [(i.process, i.index) for i in step.instances] == [("web", 0), ("web", 1), ("worker", 0)]


def test_a_new_release_goes_to_the_free_slot_and_retires_every_old_instance() -> None:
    old = (box("r1"), box("r1", "web", 1), box("r1", "worker", 0))
    [step] = run(release(), *old, live_release="r1")
    assert isinstance(step, Deploy)
    assert step.slot == "b" and step.evict == () and set(step.retire) == set(old)
    assert not step.release_command  # none stated


def test_a_rollout_found_midway_adopts_what_it_made_and_does_not_run_the_release_command_again() -> None:
    rel = release(release_command=ReleaseCommand(command=["migrate"]))
    made = (box("r2", slot="b"), box("r2", "worker", 0))
    [step] = run(rel, box("r1"), *made)
    assert isinstance(step, Deploy)
    assert step.slot == "b" and step.adopt == made[0] and step.adopted == (made[1],)
    assert [(i.process, i.index) for i in step.instances] == [("web", 1)]
    assert not step.release_command and step.retire == (box("r1"),)


def test_a_worker_only_release_has_no_web_to_gate() -> None:
    [step] = run(release(web=0, worker=2))
    assert isinstance(step, Deploy) and not step.web
    assert [(i.process, i.index) for i in step.instances] == [("worker", 0), ("worker", 1)]


def test_a_live_release_without_web_is_told_to_the_router_once_after_the_agent_starts() -> None:
    # web scaled to 0 (nothing runs), or worker-only: the agent that just started has told the
    # router nothing, so it tells it the app has no web instance (the 503 page at once).
    for rel, running in (
        (release(status="live", web=0, worker=0), ()),
        (release(status="live", web=0), (box("r2", "worker", 0),)),
    ):
        [step] = run(rel, *running)
        assert isinstance(step, Unserved) and step.release == rel
        told = Serving("r2", step.slot, no_instances=True)
        assert run(rel, *running, serving=told) == []


def test_the_live_release_scaled_up_and_down_in_place() -> None:
    running = (box("r2", slot="b"), box("r2", "web", 1, slot="b"), box("r2", "worker", 0))
    [up] = run(release(status="live", web=2, worker=3), *running)
    assert isinstance(up, Scale) and up.slot == "b" and up.stop == ()
    assert [(i.process, i.index) for i in up.start] == [("worker", 1), ("worker", 2)]

    [down] = run(release(status="live", web=1, worker=1), *running)
    assert isinstance(down, Scale) and down.start == () and down.stop == (running[1],)
    assert set(down.keep) == {running[0], running[2]}


def test_a_converged_formation_needs_nothing() -> None:
    running = (box("r2"), box("r2", "web", 1), box("r2", "worker", 0))
    assert run(release(status="live"), *running) == []


def test_a_dead_worker_is_restarted_after_its_own_backoff_and_web_deaths_do_not_count() -> None:
    running = (box("r2"), box("r2", "web", 1))
    dead = box("r2", "worker", 0, running=False, at=NOW - 0.5)
    web_deaths = tuple(Death(f"w{n}", "r2", NOW - 10 - n, 1, process="web") for n in range(4))
    worker_death = Death(dead.container_id, "r2", NOW - 0.5, 1, process="worker")
    steps = run(release(status="live"), *running, dead, deaths=(*web_deaths, worker_death))
    assert steps == [RecheckAt(APP_ID, NOW - 0.5 + 1.0)]  # one worker death: 1 s backoff

    later = run(release(status="live"), *running, dead, deaths=(worker_death,), live_release="r2")
    assert later == [RecheckAt(APP_ID, NOW + 0.5)]
    dead_long_ago = box("r2", "worker", 0, running=False, at=NOW - 5)
    assert run(release(status="live"), *running, dead_long_ago) == [Restart(APP_ID, "r2", dead.container_id, 0)]


def test_a_worker_that_keeps_dying_is_given_up_alone() -> None:
    dead = box("r2", "worker", 0, running=False, at=NOW - 1)
    deaths = tuple(Death(dead.container_id, "r2", NOW - 100 + n, 1, process="worker") for n in range(5))
    [step] = run(release(status="live"), box("r2"), box("r2", "web", 1), dead, deaths=deaths)
    assert isinstance(step, GiveUp) and step.process == "worker" and step.release_id == "r2"
    gave_up = run(
        release(status="live"), box("r2"), box("r2", "web", 1), dead, deaths=deaths,
        gave_up_processes=frozenset({("r2", "worker")}),
    )  # fmt: skip
    assert gave_up == []


def test_one_off_containers_are_no_instances() -> None:
    one_off = ObservedContainer("c-run", "run", APP_ID, "r2", "a", "running", process="run", run_id="run1")
    running = (box("r2"), box("r2", "web", 1), box("r2", "worker", 0))
    assert run(release(status="live"), *running, one_off) == []


def test_an_instance_the_engine_refused_to_start_is_replaced_then_given_up() -> None:
    refused = box("r2", "worker", 0, running=False, at=NOW - 10)
    running = (box("r2"), box("r2", "web", 1))
    failure = StartFailure("r2", refused.container_id, NOW - 1, "task already exists")
    [step] = run(release(status="live"), *running, refused, start_failures=(failure,))
    assert isinstance(step, Scale) and step.stop == (refused,)
    assert [(i.process, i.index) for i in step.start] == [("worker", 0)]
    many = tuple(StartFailure("r2", refused.container_id, NOW - 50 + n, "refused") for n in range(5))
    [gave_up] = run(release(status="live"), *running, refused, start_failures=many)
    assert isinstance(gave_up, GiveUp) and "5 attempts" in gave_up.reason


def test_a_hard_restart_is_of_web_instance_0_never_of_a_worker() -> None:
    rel = release(status="live")
    worker = ObservedContainer("c-0-worker", "w", APP_ID, "r2", "a", "running", process="worker")
    web = box("r2")
    decided = plan_hard_restart(app(rel), ActualState(containers=(worker, web)), AppMemory(), "r2")
    assert isinstance(decided, HardRestart) and decided.container == web


def test_a_release_without_a_formation_after_one_retires_the_workers_and_runs_one_web() -> None:
    plain = DesiredRelease(release_id="r3", image="img:r3")
    old = (box("r2"), box("r2", "web", 1), box("r2", "worker", 0))
    [step] = run(plain, *old, live_release="r2")
    assert isinstance(step, Deploy) and step.formation and step.slot == "b"
    assert [(i.process, i.index) for i in step.instances] == [("web", 0)] and set(step.retire) == set(old)


def test_a_release_without_a_formation_on_an_app_that_never_had_one_is_planned_as_before() -> None:
    plain = DesiredRelease(release_id="r3", image="img:r3")
    [step] = run(plain, box("r2"), live_release="r2")
    assert isinstance(step, Deploy) and not step.formation and step.instances == ()
    assert (step.slot, step.retire) == ("b", (box("r2"),))
