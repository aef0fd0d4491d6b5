"""The pure planner: ``plan(desired, actual, now, memory) -> list[Step]``.

Level-triggered: it looks only at what should run, what Docker has and what the agent
remembers, so the same inputs always give the same steps, and a converged app gives none.
The executor carries the steps out; the loop feeds their outcomes back into memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from berth_shared.contracts.desired import DesiredApp, DesiredRelease
from berth_shared.contracts.processes import WEB, Formation, ProcessSpec, processes_of
from berth_shared.netplan import SLOTS, Slot

from berth_agent.state import (
    ActualState,
    AppMemory,
    CrashPolicy,
    DesiredState,
    Memory,
    ObservedContainer,
    ObservedNetwork,
    live_release_id,
)

DEFAULT_POLICY = CrashPolicy()


@dataclass(frozen=True)
class Instance:
    """One instance of a process type to start: web instance 0 sits at its slot's fixed address,
    every other one at an address the agent picks from the shared range (ADR 0026 §2)."""

    spec: ProcessSpec
    index: int

    @property
    def process(self) -> str:
        return self.spec.name

    @property
    def fixed(self) -> bool:
        """Web instance 0: the slot's fixed address, created in the slot as before issue 17."""
        return self.spec.name == WEB and self.index == 0


@dataclass(frozen=True)
class Deploy:
    """Roll ``release`` out in ``slot``: start it (or adopt it), wait until ready, retire the rest.

    A release without a formation runs web instance 0 alone (``adopt`` or a new one). With a
    formation (ADR 0026 §1) ``instances`` are the instances to start (web in ``slot``,
    the others beside the old ones), ``adopted`` the release's own instances found mid-rollout,
    ``web`` False for a worker-only release (no gate, no switch), and ``release_command`` True
    when the release command runs first (nothing of the release exists yet)."""

    app: DesiredApp
    release: DesiredRelease
    slot: Slot
    adopt: ObservedContainer | None = None  # the release's own container, found mid-rollout
    evict: tuple[ObservedContainer, ...] = ()  # other containers holding the target slot: removed first
    retire: tuple[ObservedContainer, ...] = ()  # other containers: stopped once the new one is ready
    instances: tuple[Instance, ...] = ()
    adopted: tuple[ObservedContainer, ...] = ()
    web: bool = True
    release_command: bool = False
    formation: bool = False  # planned by plan_formation: carried out instance by instance


@dataclass(frozen=True)
class Scale:
    """The live release runs other counts than wanted: start ``start`` (web gated, then the slot
    switched with every web address), stop ``stop`` (web: switched without them first, then drained)."""

    app: DesiredApp
    release: DesiredRelease
    slot: Slot
    keep: tuple[ObservedContainer, ...]
    start: tuple[Instance, ...] = ()
    stop: tuple[ObservedContainer, ...] = ()


@dataclass(frozen=True)
class ConfirmLive:
    """The release runs alone but the API does not know it is live: re-verify and say so again."""

    app: DesiredApp
    release: DesiredRelease
    container: ObservedContainer


@dataclass(frozen=True)
class Unserved:
    """The live release has no web instance (web at 0, worker-only) and this agent has not told
    the router so since it started: tell it again, so that the proxy answers the app's 503 page
    at once, and so that a restarted router gets the mark back from the serving slots."""

    app: DesiredApp
    release: DesiredRelease
    slot: Slot


@dataclass(frozen=True)
class Restore:
    """A live release lost its container (removed, engine wiped), or the engine refused to start
    it again: run a fresh one in ``slot``, no deploy gate. ``evict``: the container it replaces
    (removed first; nothing serves while the live container is down, so in place)."""

    app: DesiredApp
    release: DesiredRelease
    slot: Slot
    evict: tuple[ObservedContainer, ...] = ()


@dataclass(frozen=True)
class Restart:
    """Start the live release's dead container again (after its backoff)."""

    app_id: str
    release_id: str
    container_id: str
    attempt: int


@dataclass(frozen=True)
class RecheckAt:
    """Nothing to do until ``at`` (epoch seconds): the backoff of a dead live container."""

    app_id: str
    at: float


@dataclass(frozen=True)
class GiveUp:
    """The live release died too often, or could not be started again: stop and report the app crashed."""

    app_id: str
    release_id: str
    exit_code: int
    restarts: int
    reason: str = ""  # the engine's refusal when it could not start the release again
    process: str = WEB  # a crashed web crashes the app; another process only itself


@dataclass(frozen=True)
class RemoveContainers:
    """Containers of an app that has no release to run."""

    app_id: str
    containers: tuple[ObservedContainer, ...]


@dataclass(frozen=True)
class CleanUp:
    """Remove everything of a deleted or orphaned app, then report it cleaned up."""

    app_id: str
    containers: tuple[ObservedContainer, ...] = ()
    networks: tuple[ObservedNetwork, ...] = ()


Step = Deploy | Scale | ConfirmLive | Unserved | Restore | Restart | RecheckAt | GiveUp | RemoveContainers | CleanUp


def plan(
    desired: DesiredState,
    actual: ActualState,
    now: float,
    memory: Memory,
    policy: CrashPolicy = DEFAULT_POLICY,
) -> list[Step]:
    steps: list[Step] = []
    for app in desired.apps:
        steps.extend(plan_app(app, actual, now, memory.of(app.app_id), policy))
    wanted = {app.app_id for app in desired.apps}
    for app_id in sorted(actual.app_ids() - wanted):
        if desired.covers(app_id):
            steps.append(CleanUp(app_id, actual.containers_of(app_id), actual.networks_of(app_id)))
    return steps


def plan_app(app: DesiredApp, actual: ActualState, now: float, memory: AppMemory, policy: CrashPolicy) -> list[Step]:
    containers = actual.containers_of(app.app_id)
    if app.deleted:
        return plan_deletion(app.app_id, containers, actual.networks_of(app.app_id), memory)
    release = app.release
    if release is None:
        return [RemoveContainers(app.app_id, containers)] if containers else []
    if release.release_id in memory.failed_releases:
        return []
    containers = tuple(c for c in containers if not c.one_off)  # release commands and runs: not here
    if has_formation(release, containers):
        return plan_formation(app, release, containers, now=now, memory=memory, policy=policy)
    own = [c for c in containers if c.release_id == release.release_id]
    others = [c for c in containers if c.release_id != release.release_id]
    current, duplicates = pick_current(own)
    stale = (*others, *duplicates)
    if current is None:
        return plan_rollout(app, release, stale, now=now, memory=memory, policy=policy)
    if stale:
        return [Deploy(app, release, current.slot, adopt=current, retire=stale)]
    is_live = live_release_id(app, memory) == release.release_id
    if current.running:
        return [] if is_live else [ConfirmLive(app, release, current)]
    if not is_live:
        return [Deploy(app, release, current.slot, adopt=current)]
    if memory.refused(current.container_id):
        return plan_restore(app, release, current.slot, (current,), now=now, memory=memory, policy=policy)
    return plan_crash_recovery(app.app_id, current, now, memory, policy)


def has_formation(release: DesiredRelease, containers: Sequence[ObservedContainer]) -> bool:
    """The release states processes or a release command, or the app runs more than one web
    instance: planned by :func:`plan_formation`. Otherwise exactly as before issue 17."""
    return bool(release.processes or release.release_command) or any(
        c.process != WEB or c.index != 0 for c in containers
    )


def wanted_instances(release: DesiredRelease) -> dict[tuple[str, int], Instance]:
    """Every instance the release runs, by (process, index): web first, then by name."""
    specs = processes_of(Formation(processes=list(release.processes)))
    return {(spec.name, index): Instance(spec, index) for spec in specs for index in range(max(0, spec.count))}


def sort_key(container: ObservedContainer) -> tuple[bool, str, str]:
    return (not container.running, container.slot, container.container_id)


def plan_formation(
    app: DesiredApp,
    release: DesiredRelease,
    containers: tuple[ObservedContainer, ...],
    *,
    now: float,
    memory: AppMemory,
    policy: CrashPolicy,
) -> list[Step]:
    """A release with process types (ADR 0026 §1): every instance of every process, rolled out
    together (one switch), scaled in place once live, restarted per instance after a crash."""
    wanted = wanted_instances(release)
    own = sorted((c for c in containers if c.release_id == release.release_id), key=sort_key)
    stale = tuple(c for c in containers if c.release_id != release.release_id)
    keep: dict[tuple[str, int], ObservedContainer] = {}
    extra: list[ObservedContainer] = []
    for container in own:
        key = (container.process, container.index)
        if key in wanted and key not in keep and not memory.refused(container.container_id):
            keep[key] = container
        else:
            extra.append(container)
    missing = tuple(instance for key, instance in wanted.items() if key not in keep)
    own_web = [c for c in keep.values() if c.process == WEB]
    is_live = live_release_id(app, memory) == release.release_id
    if not is_live or stale:
        old_web = [c for c in stale if c.process == WEB]
        slot = own_web[0].slot if own_web else choose_slot([c for c in old_web if c.index == 0] or old_web)
        evict = tuple(c for c in stale if c.process == WEB and c.index == 0 and c.slot == slot)
        web0 = keep.get((WEB, 0))
        return [
            Deploy(
                app,
                release,
                slot,
                adopt=web0,
                evict=(*evict, *extra),
                retire=tuple(c for c in stale if c not in evict),
                instances=missing,
                adopted=tuple(c for c in keep.values() if c is not web0),
                web=(WEB, 0) in wanted,
                release_command=release.release_command is not None and not own,
                formation=True,
            )
        ]
    slot = own_web[0].slot if own_web else (memory.serving.slot if memory.serving else SLOTS[0])
    dead = [c for c in keep.values() if not c.running]
    if missing or extra:
        # A container the engine refused to start again is replaced, with the restore's backoff.
        failures = memory.start_failures_of(release.release_id, since=now - policy.window_seconds)
        if len(failures) >= policy.limit:
            if memory.gave_up_release == release.release_id:
                return []
            reason = f"{failures[-1].reason} ({len(failures)} attempts to start it again failed)"
            return [GiveUp(app.app_id, release.release_id, exit_code=0, restarts=len(failures), reason=reason)]
        if len(failures) > 1 and now < (at := failures[-1].at + policy.delay_after(len(failures) - 1)):
            return [RecheckAt(app.app_id, at)]
        return [Scale(app, release, slot, keep=tuple(keep.values()), start=missing, stop=tuple(extra))]
    if (WEB, 0) not in wanted and memory.serving is None:
        return [Unserved(app, release, slot), *plan_process_crashes(app.app_id, dead, now, memory, policy)]
    return plan_process_crashes(app.app_id, dead, now, memory, policy)


def plan_process_crashes(
    app_id: str, dead: Sequence[ObservedContainer], now: float, memory: AppMemory, policy: CrashPolicy
) -> list[Step]:
    """Crash backoff and the crashed verdict per process: its dead instances are started again
    after the backoff of that process's deaths; at the policy's limit the process is given up
    (web: the app is crashed; another process: that process alone)."""
    steps: list[Step] = []
    rechecks: list[float] = []
    for process in sorted({c.process for c in dead}):
        instances = sorted((c for c in dead if c.process == process), key=lambda c: c.index)
        release_id = instances[0].release_id
        if memory.gave_up_on(release_id, process):
            continue
        deaths = memory.deaths_of(release_id, since=now - policy.window_seconds, process=process)
        if len(deaths) >= policy.limit:
            exit_code = instances[0].exit_code
            steps.append(GiveUp(app_id, release_id, exit_code=exit_code, restarts=len(deaths) - 1, process=process))
            continue
        last = max((d.at for d in deaths), default=max(c.finished_at for c in instances))
        at = last + policy.delay_after(len(deaths)) if deaths else now
        if now < at:
            rechecks.append(at)
            continue
        steps.extend(Restart(app_id, release_id, c.container_id, attempt=len(deaths)) for c in instances)
    if rechecks:
        steps.append(RecheckAt(app_id, min(rechecks)))
    return steps


def plan_deletion(
    app_id: str,
    containers: tuple[ObservedContainer, ...],
    networks: tuple[ObservedNetwork, ...],
    memory: AppMemory,
) -> list[Step]:
    if containers or networks or not memory.cleaned_up:
        return [CleanUp(app_id, containers, networks)]
    return []


def pick_current(own: Sequence[ObservedContainer]) -> tuple[ObservedContainer | None, tuple[ObservedContainer, ...]]:
    """The release's container to keep (a running one first) and any duplicates of it."""
    if not own:
        return None, ()
    ordered = sorted(own, key=lambda c: (not c.running, c.slot, c.container_id))
    return ordered[0], tuple(ordered[1:])


def plan_rollout(
    app: DesiredApp,
    release: DesiredRelease,
    stale: tuple[ObservedContainer, ...],
    *,
    now: float,
    memory: AppMemory,
    policy: CrashPolicy,
) -> list[Step]:
    if not stale and live_release_id(app, memory) == release.release_id:
        return plan_restore(app, release, SLOTS[0], (), now=now, memory=memory, policy=policy)
    slot = choose_slot(stale)
    evict = tuple(c for c in stale if c.slot == slot)
    retire = tuple(c for c in stale if c.slot != slot)
    return [Deploy(app, release, slot, evict=evict, retire=retire)]


def plan_restore(
    app: DesiredApp,
    release: DesiredRelease,
    slot: Slot,
    evict: tuple[ObservedContainer, ...],
    *,
    now: float,
    memory: AppMemory,
    policy: CrashPolicy,
) -> list[Step]:
    """A fresh container for the live release: at once the first time, then after the crash
    policy's backoff while the engine keeps refusing; at its limit the app is crashed with the
    engine's last refusal as the reason. Never retried forever."""
    release_id = release.release_id
    if memory.gave_up_release == release_id:
        return []
    failures = memory.start_failures_of(release_id, since=now - policy.window_seconds)
    if len(failures) >= policy.limit:
        exit_code = evict[0].exit_code if evict else 0
        reason = f"{failures[-1].reason} ({len(failures)} attempts to start it again failed)"
        return [GiveUp(app.app_id, release_id, exit_code=exit_code, restarts=len(failures), reason=reason)]
    if len(failures) > 1:
        at = failures[-1].at + policy.delay_after(len(failures) - 1)
        if now < at:
            return [RecheckAt(app.app_id, at)]
    return [Restore(app, release, slot, evict=evict)]


def choose_slot(stale: Sequence[ObservedContainer]) -> Slot:
    """A free slot; else one whose container is not running; else slot a."""
    occupied = {c.slot for c in stale}
    serving = {c.slot for c in stale if c.running}
    for candidates in ([s for s in SLOTS if s not in occupied], [s for s in SLOTS if s not in serving]):
        if candidates:
            return candidates[0]
    return SLOTS[0]


def plan_crash_recovery(
    app_id: str, container: ObservedContainer, now: float, memory: AppMemory, policy: CrashPolicy
) -> list[Step]:
    release_id = container.release_id
    if memory.gave_up_release == release_id:
        return []
    deaths = memory.deaths_of(release_id, since=now - policy.window_seconds)
    if len(deaths) >= policy.limit:
        return [GiveUp(app_id, release_id, exit_code=container.exit_code, restarts=len(deaths) - 1)]
    last = max((d.at for d in deaths), default=container.finished_at)
    at = last + policy.delay_after(len(deaths)) if deaths else now
    if now < at:
        return [RecheckAt(app_id, at)]
    return [Restart(app_id, release_id, container.container_id, attempt=len(deaths))]


@dataclass(frozen=True)
class HardRestart:
    """``restart?hard=true``: restart the live release's container where it is (a short outage)."""

    app: DesiredApp
    release: DesiredRelease
    container: ObservedContainer


def plan_hard_restart(
    app: DesiredApp | None, actual: ActualState, memory: AppMemory, release_id: str
) -> HardRestart | str:
    """The restart to carry out, or why there is none (the command is then acked and dropped:
    a stale or mistaken hard restart must never touch another release's container)."""
    if app is None or app.deleted:
        return "the app is gone"
    release = app.release
    if release is None or release.release_id != release_id:
        return f"release {release_id} is not the app's current release"
    if live_release_id(app, memory) != release_id:
        return f"release {release_id} is not live"
    own = [
        c
        for c in actual.containers_of(app.app_id)
        if c.release_id == release_id and c.process == WEB and c.index == 0 and not c.one_off
    ]
    current, _ = pick_current(own)
    if current is None:
        return f"release {release_id} has no container on this host"
    return HardRestart(app, release, current)
