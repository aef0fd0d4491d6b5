from __future__ import annotations

from berth_agent.planner import (
    CleanUp,
    ConfirmLive,
    Deploy,
    GiveUp,
    HardRestart,
    RecheckAt,
    RemoveContainers,
    Restart,
    Restore,
    plan,
    plan_hard_restart,
)
from berth_agent.state import (
    ActualState,
    AppMemory,
    CrashPolicy,
    Death,
    DesiredState,
    Memory,
    ObservedContainer,
    ObservedNetwork,
    StartFailure,
)
from berth_shared.contracts.desired import DesiredApp, DesiredRelease
from berth_shared.netplan import Slot

NOW = 1_000_000.0
APP_ID = "app1"


def release(release_id: str = "r2", status: str = "pending") -> DesiredRelease:
    return DesiredRelease(release_id=release_id, image=f"img:{release_id}", status=status)


def app(rel: DesiredRelease | None = None, *, deleted: bool = False, app_id: str = APP_ID) -> DesiredApp:
    return DesiredApp(
        app_id=app_id, name="web", hostname="web.test", port=8080, subnet="10.0.0.0/28", release=rel, deleted=deleted
    )


def container(
    release_id: str, slot: Slot, *, running: bool = True, app_id: str = APP_ID, finished_at: float = 0.0, code: int = 0
) -> ObservedContainer:
    return ObservedContainer(
        container_id=f"c-{release_id}-{slot}",
        name=f"berth-x-web-{slot}-{release_id}",
        app_id=app_id,
        release_id=release_id,
        slot=slot,
        state="running" if running else "exited",
        exit_code=code,
        finished_at=finished_at,
    )


def desired(*apps: DesiredApp, scope: frozenset[str] | None = None) -> DesiredState:
    return DesiredState(apps=apps, scope=scope)


def actual(*containers: ObservedContainer, networks: tuple[ObservedNetwork, ...] = ()) -> ActualState:
    return ActualState(containers=containers, networks=networks)


def memory(**fields: object) -> Memory:
    return Memory(apps={APP_ID: AppMemory(**fields)})  # type: ignore[arg-type]


def test_first_deploy_starts_slot_a() -> None:
    r2 = release()
    assert plan(desired(app(r2)), actual(), NOW, Memory()) == [Deploy(app(r2), r2, "a")]


def test_redeploy_flips_to_the_other_slot_and_retires_the_old_one() -> None:
    r2 = release()
    old = container("r1", "a")
    assert plan(desired(app(r2)), actual(old), NOW, Memory()) == [Deploy(app(r2), r2, "b", retire=(old,))]


def test_redeploy_evicts_a_dead_container_holding_the_free_slot() -> None:
    r3 = release("r3")
    serving, dead = container("r2", "b"), container("r1", "a", running=False)
    steps = plan(desired(app(r3)), actual(serving, dead), NOW, Memory())
    assert steps == [Deploy(app(r3), r3, "a", evict=(dead,), retire=(serving,))]


def test_nothing_to_do_when_the_live_release_runs_alone() -> None:
    r2 = release(status="live")
    assert plan(desired(app(r2)), actual(container("r2", "b")), NOW, Memory()) == []


def test_second_run_after_a_deploy_is_empty() -> None:
    r2 = release()  # the API has not processed ReleaseLive yet, but this agent made it live
    assert plan(desired(app(r2)), actual(container("r2", "b")), NOW, memory(live_release="r2")) == []


def test_app_without_a_release_needs_nothing() -> None:
    assert plan(desired(app(None)), actual(), NOW, Memory()) == []


def test_app_without_a_release_loses_stray_containers() -> None:
    stray = container("r1", "a")
    assert plan(desired(app(None)), actual(stray), NOW, Memory()) == [RemoveContainers(APP_ID, (stray,))]


def test_mid_deploy_adoption_finishes_the_rollout_without_a_new_container() -> None:
    r2 = release(status="starting")
    new, old = container("r2", "b"), container("r1", "a")
    steps = plan(desired(app(r2)), actual(new, old), NOW, Memory())
    assert steps == [Deploy(app(r2), r2, "b", adopt=new, retire=(old,))]


def test_mid_deploy_adoption_of_a_created_but_never_started_container() -> None:
    r2 = release()
    new = container("r2", "a", running=False)
    assert plan(desired(app(r2)), actual(new), NOW, Memory()) == [Deploy(app(r2), r2, "a", adopt=new)]


def test_release_running_alone_but_not_live_is_confirmed() -> None:
    r2 = release(status="starting")
    new = container("r2", "a")
    assert plan(desired(app(r2)), actual(new), NOW, Memory()) == [ConfirmLive(app(r2), r2, new)]


def test_duplicate_containers_of_a_release_keep_the_running_one() -> None:
    r2 = release(status="live")
    running, duplicate = container("r2", "b"), container("r2", "a", running=False)
    steps = plan(desired(app(r2)), actual(duplicate, running), NOW, Memory())
    assert steps == [Deploy(app(r2), r2, "b", adopt=running, retire=(duplicate,))]


def test_failed_release_is_not_retried() -> None:
    r2 = release()
    old = container("r1", "a")
    assert plan(desired(app(r2)), actual(old), NOW, memory(failed_releases=frozenset({"r2"}))) == []


def test_live_release_without_any_container_is_restored() -> None:
    r1 = release("r1", status="live")
    assert plan(desired(app(r1)), actual(), NOW, Memory()) == [Restore(app(r1), r1, "a")]


def dead_live(finished_at: float) -> tuple[DesiredApp, ObservedContainer]:
    return app(release("r1", status="live")), container("r1", "a", running=False, finished_at=finished_at, code=3)


def deaths(*ats: float) -> tuple[Death, ...]:
    return tuple(Death("c-r1-a", "r1", at, 3) for at in ats)


def test_crash_waits_for_the_backoff() -> None:
    web, dead = dead_live(NOW - 0.5)
    steps = plan(desired(web), actual(dead), NOW, memory(deaths=deaths(NOW - 0.5)))
    assert steps == [RecheckAt(APP_ID, NOW + 0.5)]


def test_crash_restarts_after_the_backoff() -> None:
    web, dead = dead_live(NOW - 1.0)
    steps = plan(desired(web), actual(dead), NOW, memory(deaths=deaths(NOW - 1.0)))
    assert steps == [Restart(APP_ID, "r1", "c-r1-a", attempt=1)]


def test_backoff_doubles_with_every_death() -> None:
    web, dead = dead_live(NOW - 3.0)
    history = deaths(NOW - 20, NOW - 15, NOW - 3.0)  # third death: wait 4 s
    assert plan(desired(web), actual(dead), NOW, memory(deaths=history)) == [RecheckAt(APP_ID, NOW + 1.0)]


def test_gives_up_after_five_deaths_in_five_minutes() -> None:
    web, dead = dead_live(NOW - 1)
    history = deaths(NOW - 100, NOW - 80, NOW - 60, NOW - 30, NOW - 1)
    steps = plan(desired(web), actual(dead), NOW, memory(deaths=history))
    assert steps == [GiveUp(APP_ID, "r1", exit_code=3, restarts=4)]


def test_deaths_outside_the_window_do_not_count() -> None:
    web, dead = dead_live(NOW - 1)
    history = deaths(NOW - 900, NOW - 800, NOW - 700, NOW - 600, NOW - 1)
    assert plan(desired(web), actual(dead), NOW, memory(deaths=history)) == [Restart(APP_ID, "r1", "c-r1-a", 1)]


def test_after_giving_up_nothing_is_restarted() -> None:
    web, dead = dead_live(NOW - 1)
    history = deaths(NOW - 100, NOW - 80, NOW - 60, NOW - 30, NOW - 1)
    assert plan(desired(web), actual(dead), NOW, memory(deaths=history, gave_up_release="r1")) == []


def test_a_new_release_after_giving_up_is_deployed() -> None:
    r2 = release("r2")
    _, dead = dead_live(NOW - 1)
    steps = plan(desired(app(r2)), actual(dead), NOW, memory(gave_up_release="r1"))
    assert steps == [Deploy(app(r2), r2, "b", retire=(dead,))]


def test_crash_policy_is_an_input() -> None:
    web, dead = dead_live(NOW - 0.2)
    fast = CrashPolicy(backoff_seconds=(0.1,), limit=2)
    assert plan(desired(web), actual(dead), NOW, memory(deaths=deaths(NOW - 0.2)), fast) == [
        Restart(APP_ID, "r1", "c-r1-a", 1)
    ]


# -- containers the engine refuses to start again (engine restarts) ------------------------------

TASK_EXISTS = "container failed to start: task c-r1-a: already exists"


def refusals(*ats: float, container_id: str = "c-r1-a", reason: str = TASK_EXISTS) -> tuple[StartFailure, ...]:
    return tuple(StartFailure("r1", container_id, at, reason) for at in ats)


def test_a_container_the_engine_refused_to_start_is_replaced_in_place_at_once() -> None:
    web, dead = dead_live(NOW - 5)
    history = memory(deaths=deaths(NOW - 5), start_failures=refusals(NOW - 0.1))
    assert plan(desired(web), actual(dead), NOW, history) == [Restore(web, web.release, "a", evict=(dead,))]  # type: ignore[arg-type]


def test_a_refused_container_is_never_started_again() -> None:
    web, dead = dead_live(NOW - 60)  # its backoff is long over: a crash would restart it now
    steps = plan(desired(web), actual(dead), NOW, memory(deaths=deaths(NOW - 60), start_failures=refusals(NOW - 30)))
    assert not any(isinstance(s, Restart) for s in steps) and isinstance(steps[0], Restore)


def test_replacements_back_off_while_the_engine_keeps_refusing() -> None:
    web = app(release("r1", status="live"))
    fresh = container("r1", "a", running=False)  # the first replacement, refused as well
    history = memory(
        start_failures=(*refusals(NOW - 3, container_id="old"), *refusals(NOW - 0.5, container_id=fresh.container_id))
    )
    assert plan(desired(web), actual(fresh), NOW, history) == [RecheckAt(APP_ID, NOW + 0.5)]
    assert plan(desired(web), actual(fresh), NOW + 0.5, history) == [
        Restore(web, web.release, "a", evict=(fresh,))  # type: ignore[arg-type]
    ]


def test_repeated_refusal_ends_crashed_with_the_engines_reason() -> None:
    web, dead = dead_live(NOW - 60)
    history = memory(start_failures=refusals(NOW - 20, NOW - 15, NOW - 10, NOW - 5, NOW - 1))
    [step] = plan(desired(web), actual(dead), NOW, history)
    assert isinstance(step, GiveUp) and step.release_id == "r1" and step.restarts == 5
    assert step.reason.startswith(TASK_EXISTS) and "5 attempts" in step.reason
    assert (
        plan(
            desired(web),
            actual(dead),
            NOW,
            memory(start_failures=history.of(APP_ID).start_failures, gave_up_release="r1"),
        )
        == []
    )


def test_a_live_release_whose_restore_keeps_failing_ends_crashed() -> None:
    web = app(release("r1", status="live"))
    gone = "image not found: img:r1"
    once = memory(start_failures=refusals(NOW - 0.2, container_id="", reason=gone))
    assert plan(desired(web), actual(), NOW, once) == [Restore(web, web.release, "a")]  # type: ignore[arg-type]
    twice = memory(start_failures=refusals(NOW - 2, NOW - 0.2, container_id="", reason=gone))
    assert plan(desired(web), actual(), NOW, twice) == [RecheckAt(APP_ID, NOW + 0.8)]
    five = memory(start_failures=refusals(NOW - 9, NOW - 7, NOW - 5, NOW - 3, NOW - 1, container_id="", reason=gone))
    [step] = plan(desired(web), actual(), NOW, five)
    assert isinstance(step, GiveUp) and step.reason.startswith(gone)


def test_after_giving_up_a_lost_container_is_not_restored() -> None:
    web = app(release("r1", status="live"))
    assert plan(desired(web), actual(), NOW, memory(gave_up_release="r1")) == []


def test_refusals_outside_the_window_do_not_count() -> None:
    web, dead = dead_live(NOW - 60)
    history = memory(start_failures=refusals(NOW - 900, NOW - 800, NOW - 700, NOW - 600, NOW - 1))
    assert plan(desired(web), actual(dead), NOW, history) == [Restore(web, web.release, "a", evict=(dead,))]  # type: ignore[arg-type]


def test_deleted_app_loses_containers_and_network() -> None:
    web = app(release("r1", status="live"), deleted=True)
    running = container("r1", "a")
    network = ObservedNetwork("n1", "berth-x-app1", APP_ID)
    steps = plan(desired(web), actual(running, networks=(network,)), NOW, Memory())
    assert steps == [CleanUp(APP_ID, (running,), (network,))]


def test_deleted_app_with_nothing_left_is_reported_once() -> None:
    web = app(None, deleted=True)
    assert plan(desired(web), actual(), NOW, Memory()) == [CleanUp(APP_ID)]
    assert plan(desired(web), actual(), NOW, memory(cleaned_up=True)) == []


def test_orphans_are_removed_on_a_full_resync() -> None:
    r1 = release("r1", status="live")
    mine = container("r1", "a")
    orphan = container("x1", "a", app_id="gone")
    orphan_net = ObservedNetwork("n2", "berth-x-gone", "gone")
    steps = plan(desired(app(r1)), actual(mine, orphan, networks=(orphan_net,)), NOW, Memory())
    assert steps == [CleanUp("gone", (orphan,), (orphan_net,))]


def test_apps_outside_the_scope_of_a_partial_answer_are_left_alone() -> None:
    other = container("x1", "a", app_id="other")
    assert plan(desired(scope=frozenset({APP_ID})), actual(other), NOW, Memory()) == []
    assert plan(desired(scope=frozenset({"other"})), actual(other), NOW, Memory()) == [CleanUp("other", (other,))]


# -- hard restart (restart?hard=true) ---------------------------------------------------------


def test_hard_restart_targets_the_live_release_container() -> None:
    live = release("r1", status="live")
    current = container("r1", "b")
    decided = plan_hard_restart(app(live), actual(current), AppMemory(), "r1")
    assert decided == HardRestart(app(live), live, current)


def test_hard_restart_of_a_release_made_live_by_this_agent() -> None:
    rel = release("r1", status="starting")
    decided = plan_hard_restart(app(rel), actual(container("r1", "a")), AppMemory(live_release="r1"), "r1")
    assert isinstance(decided, HardRestart) and decided.container.slot == "a"


def test_hard_restart_prefers_the_running_container_over_a_duplicate() -> None:
    live = release("r1", status="live")
    decided = plan_hard_restart(
        app(live), actual(container("r1", "a", running=False), container("r1", "b")), AppMemory(), "r1"
    )
    assert isinstance(decided, HardRestart) and decided.container.slot == "b"


def test_hard_restart_is_refused_for_anything_but_the_live_release() -> None:
    live = release("r1", status="live")
    others = actual(container("r1", "a"), container("r0", "b"))
    assert plan_hard_restart(None, others, AppMemory(), "r1") == "the app is gone"
    assert plan_hard_restart(app(live, deleted=True), others, AppMemory(), "r1") == "the app is gone"
    assert "not the app's current release" in str(plan_hard_restart(app(live), others, AppMemory(), "r0"))
    assert "not the app's current release" in str(plan_hard_restart(app(None), others, AppMemory(), "r1"))
    pending = release("r1", status="pending")  # still rolling out: a deploy, not a restart
    assert "is not live" in str(plan_hard_restart(app(pending), others, AppMemory(), "r1"))
    assert "has no container" in str(plan_hard_restart(app(live), actual(container("r0", "b")), AppMemory(), "r1"))
