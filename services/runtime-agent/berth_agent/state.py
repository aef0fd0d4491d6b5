"""The planner's inputs as plain immutable data: what should run, what runs, what the agent remembers.

Nothing here does I/O. ``observe`` builds :class:`ActualState` from a Docker label query,
the loop builds :class:`DesiredState` from the API's replies, and :class:`AppMemory` is a
snapshot of what this agent process has learnt (failed releases, deaths, give-ups).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from berth_shared.contracts.desired import DesiredApp
from berth_shared.contracts.processes import RESERVED_NAMES
from berth_shared.netplan import Slot

RUNNING = "running"


@dataclass(frozen=True)
class ObservedContainer:
    container_id: str
    name: str
    app_id: str
    release_id: str
    slot: Slot
    state: str  # Docker's State.Status: created, running, exited, dead, ...
    exit_code: int = 0
    finished_at: float = 0.0  # epoch seconds; 0 when it never finished
    oom_killed: bool = False
    port: int = 0  # the PORT it was given (0 when unknown); a port change leaves old slots on the old one
    # ADR 0026: the process type and instance (labels; ``web`` 0 for containers from before it),
    # the address the agent picked for it ("" for web instance 0: its slot's fixed address) and
    # the one-off run it belongs to ("" for process instances).
    process: str = "web"
    index: int = 0
    address: str = ""
    run_id: str = ""

    @property
    def running(self) -> bool:
        return self.state == RUNNING

    @property
    def one_off(self) -> bool:
        """A release command, cron or one-off run: never an instance of the release's processes."""
        return bool(self.run_id) or self.process in RESERVED_NAMES


@dataclass(frozen=True)
class ObservedNetwork:
    network_id: str
    name: str
    app_id: str


@dataclass(frozen=True)
class ActualState:
    containers: tuple[ObservedContainer, ...] = ()
    networks: tuple[ObservedNetwork, ...] = ()

    def app_ids(self) -> frozenset[str]:
        return frozenset(c.app_id for c in self.containers) | frozenset(n.app_id for n in self.networks)

    def containers_of(self, app_id: str) -> tuple[ObservedContainer, ...]:
        return tuple(c for c in self.containers if c.app_id == app_id)

    def networks_of(self, app_id: str) -> tuple[ObservedNetwork, ...]:
        return tuple(n for n in self.networks if n.app_id == app_id)


@dataclass(frozen=True)
class DesiredState:
    """The API's answer. ``scope`` names the app ids this answer is authoritative for:
    an app seen in Docker, inside the scope and not among ``apps``, is an orphan.
    ``None`` means every app of this host (a full resync)."""

    apps: tuple[DesiredApp, ...] = ()
    scope: frozenset[str] | None = None

    def covers(self, app_id: str) -> bool:
        return self.scope is None or app_id in self.scope


@dataclass(frozen=True)
class Death:
    """A container of a live release that stopped without the agent asking it to."""

    container_id: str
    release_id: str
    at: float
    exit_code: int
    process: str = "web"


@dataclass(frozen=True)
class StartFailure:
    """The engine refused to start a container of the live release again (e.g. ``task …: already
    exists`` after it was killed mid-start), or to re-create it. ``container_id`` is "" when no
    container was made."""

    release_id: str
    container_id: str
    at: float
    reason: str


@dataclass(frozen=True)
class Serving:
    """The slot (and its release) the agent last asked the router to send new requests to."""

    release_id: str
    slot: Slot
    # Every web instance the router answers (empty: the slot's fixed address alone).
    addresses: tuple[str, ...] = ()
    no_instances: bool = False  # web at 0: the proxy answers the 503 page at once


@dataclass(frozen=True)
class AppMemory:
    """What the agent process remembers about one app between reconciles (lost on restart)."""

    failed_releases: frozenset[str] = frozenset()
    live_release: str | None = None
    deaths: tuple[Death, ...] = ()
    gave_up_release: str | None = None
    cleaned_up: bool = False
    start_failures: tuple[StartFailure, ...] = ()
    serving: Serving | None = None
    # (release, process) pairs the agent stopped restarting: a crashed worker, web serving on.
    gave_up_processes: frozenset[tuple[str, str]] = frozenset()

    def deaths_of(self, release_id: str, since: float, process: str | None = None) -> tuple[Death, ...]:
        return tuple(
            d
            for d in self.deaths
            if d.release_id == release_id and d.at >= since and (process is None or d.process == process)
        )

    def gave_up_on(self, release_id: str, process: str) -> bool:
        return self.gave_up_release == release_id or (release_id, process) in self.gave_up_processes

    def start_failures_of(self, release_id: str, since: float) -> tuple[StartFailure, ...]:
        found = (f for f in self.start_failures if f.release_id == release_id and f.at >= since)
        return tuple(sorted(found, key=lambda f: f.at))

    def refused(self, container_id: str) -> bool:
        """The engine refused to start this container: it must be replaced, not started again."""
        return any(f.container_id == container_id for f in self.start_failures)


@dataclass(frozen=True)
class CrashPolicy:
    """Restart a dying live container after these delays; give up after ``limit`` deaths in ``window``."""

    backoff_seconds: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)
    limit: int = 5
    window_seconds: float = 300.0

    def delay_after(self, deaths: int) -> float:
        index = min(max(deaths, 1), len(self.backoff_seconds)) - 1
        return self.backoff_seconds[index]


@dataclass(frozen=True)
class Memory:
    apps: dict[str, AppMemory] = field(default_factory=dict)

    def of(self, app_id: str) -> AppMemory:
        return self.apps.get(app_id, AppMemory())


def unrecorded_deaths(
    containers: Iterable[ObservedContainer], memory: AppMemory, live_release: str | None
) -> list[Death]:
    """Exited containers of the live release whose death the memory does not hold yet."""
    known = {(d.container_id, d.at) for d in memory.deaths}
    return [
        Death(
            container_id=c.container_id,
            release_id=c.release_id,
            at=c.finished_at,
            exit_code=c.exit_code,
            process=c.process,
        )
        for c in containers
        if live_release is not None
        and c.release_id == live_release
        and not c.running
        and not c.one_off
        and c.finished_at > 0
        and (c.container_id, c.finished_at) not in known
    ]


def live_release_id(app: DesiredApp, memory: AppMemory) -> str | None:
    """The desired release if it is live, by the API's word or because this agent made it live."""
    release = app.release
    if release is None:
        return None
    if release.status == "live" or memory.live_release == release.release_id:
        return release.release_id
    return None
