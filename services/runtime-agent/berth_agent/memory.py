"""The agent's in-process memory of outcomes (failed releases, live releases, deaths, give-ups)
and of the containers whose stop it asked for (their death is not a crash).

The planner never sees this mutable store, only :meth:`MemoryStore.snapshot`. It is lost on
restart on purpose: everything that must survive a restart is on the containers or in the API.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from berth_agent.state import AppMemory, Death, Memory, Serving, StartFailure


class MemoryStore:
    def __init__(self, window_seconds: float = 300.0) -> None:
        self._apps: dict[str, AppMemory] = {}
        self._window = window_seconds
        self._expected_stops: set[str] = set()

    # -- stops the agent asked for -----------------------------------------------------------
    @property
    def expected_stops(self) -> frozenset[str]:
        return frozenset(self._expected_stops)

    def expect_stop(self, container_id: str) -> None:
        """The agent stops, restarts or removes ``container_id``: its death is asked for."""
        self._expected_stops.add(container_id)

    def stop_not_expected(self, container_id: str) -> None:
        """The stop was refused after all: a later death is a crash again."""
        self._expected_stops.discard(container_id)

    def died(self, container_id: str) -> bool:
        """``container_id`` died: whether that was expected (the expectation is used up)."""
        expected = container_id in self._expected_stops
        self._expected_stops.discard(container_id)
        return expected

    # -- outcomes ----------------------------------------------------------------------------

    def snapshot(self) -> Memory:
        return Memory(apps=dict(self._apps))

    def of(self, app_id: str) -> AppMemory:
        return self._apps.get(app_id, AppMemory())

    def release_failed(self, app_id: str, release_id: str) -> None:
        current = self.of(app_id)
        self._apps[app_id] = replace(current, failed_releases=current.failed_releases | {release_id})

    def release_live(self, app_id: str, release_id: str) -> None:
        self._apps[app_id] = replace(self.of(app_id), live_release=release_id, cleaned_up=False)

    def record_deaths(self, app_id: str, deaths: Iterable[Death], now: float) -> None:
        current = self.of(app_id)
        recent = tuple(d for d in (*current.deaths, *deaths) if d.at >= now - self._window)
        self._apps[app_id] = replace(current, deaths=recent)

    def start_failed(self, app_id: str, failure: StartFailure, now: float) -> None:
        current = self.of(app_id)
        recent = tuple(f for f in (*current.start_failures, failure) if f.at >= now - self._window)
        self._apps[app_id] = replace(current, start_failures=recent)

    def serving(self, app_id: str, serving: Serving | None) -> None:
        """The router is asked to send ``app_id``'s new requests there (None: nothing known)."""
        self._apps[app_id] = replace(self.of(app_id), serving=serving)

    def gave_up(self, app_id: str, release_id: str, process: str = "web") -> None:
        """Stop restarting the release (web: the app is crashed) or one other process of it."""
        current = self.of(app_id)
        if process == "web":
            self._apps[app_id] = replace(current, gave_up_release=release_id)
        else:
            pairs = current.gave_up_processes | {(release_id, process)}
            self._apps[app_id] = replace(current, gave_up_processes=pairs)

    def cleaned_up(self, app_id: str) -> None:
        self._apps[app_id] = replace(AppMemory(), cleaned_up=True)
