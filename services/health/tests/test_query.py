"""``query.states`` (``berth.rpc.health.states.list``, the API's resync from the health service,
ADR 0018): every app's current health — the checked target's when there is one (it is newer
than the stored row), the stored state for an app not checked right now."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import pytest
from berth_cli.launcher.platform import Platform
from berth_health import query
from berth_health.checker import Checker, Target
from berth_health.machine import HealthState
from berth_health.migrations import MIGRATIONS
from berth_shared.contracts.base import encode
from berth_shared.contracts.health import ListHealthStates
from berth_shared.service import ServiceContext, close_context, open_context
from berth_shared.settings import ServiceEnv, Settings

pytestmark = pytest.mark.integration

REQUEST = encode(ListHealthStates(requester="api"))


@pytest.fixture(scope="module")
async def health(infra: Platform) -> AsyncIterator[ServiceContext]:
    env = infra.service_env("health")
    ctx = await open_context("health", MIGRATIONS, env=ServiceEnv.from_env(env), settings=Settings.from_env(env))
    try:
        yield ctx
    finally:
        await close_context(ctx)


@pytest.fixture
async def app_ids(health: ServiceContext) -> AsyncIterator[list[str]]:
    ids = sorted(f"app-{uuid.uuid4().hex}" for _ in range(3))
    try:
        yield ids
    finally:
        await health.pool.execute("DELETE FROM apps WHERE app_id = ANY($1::text[])", ids)


async def store(ctx: ServiceContext, app_id: str, release_id: str, slot: str, state: HealthState) -> None:
    await ctx.pool.execute(
        "INSERT INTO apps (app_id, configured, release_id, slot, state) VALUES ($1, true, $2, $3, $4::jsonb)",
        app_id,
        release_id,
        slot,
        json.dumps(state.to_json()),
    )


def target(app_id: str, release_id: str, slot: str, state: HealthState) -> Target:
    return Target(
        app_id=app_id, release_id=release_id, slot=slot, hosts=("10.0.0.2",), port=8080, check=None, state=state
    )


async def test_a_stored_app_not_checked_now_tells_its_stored_state(health: ServiceContext, app_ids: list[str]) -> None:
    gave_up = HealthState(
        state="unhealthy", since=100.0, reason="HTTP 500", fail_streak=7, episode_since=40.0, restarts=3, gave_up=True
    )
    await store(health, app_ids[0], "r1", "b", gave_up)
    states = await query.states(health.pool, Checker(), REQUEST)
    (found,) = [s for s in states.apps if s.app_id == app_ids[0]]
    assert (found.release_id, found.slot, found.state, found.since, found.reason) == (
        "r1",
        "b",
        "unhealthy",
        100.0,
        "HTTP 500",
    )
    assert (found.consecutive_failures, found.episode_since, found.restarts, found.gave_up) == (7, 40.0, 3, True)


async def test_the_checked_targets_state_wins_over_the_stored_one_and_every_app_is_told_once(
    health: ServiceContext, app_ids: list[str]
) -> None:
    stored_only, checked, new = app_ids
    await store(health, stored_only, "r1", "a", HealthState(state="healthy", since=10.0))
    await store(health, checked, "r1", "a", HealthState(state="unhealthy", since=20.0, reason="timeout", fail_streak=3))
    checker = Checker()
    checker.targets[checked] = target(checked, "r2", "b", HealthState(state="healthy", since=30.0))
    checker.targets[new] = target(new, "r9", "a", HealthState(state="starting", since=40.0))

    states = await query.states(health.pool, checker, REQUEST)
    mine = [s for s in states.apps if s.app_id in app_ids]
    assert [s.app_id for s in mine] == app_ids  # each once, in app order
    told = {s.app_id: (s.release_id, s.slot, s.state, s.since, s.reason) for s in mine}
    assert told == {
        stored_only: ("r1", "a", "healthy", 10.0, ""),
        checked: ("r2", "b", "healthy", 30.0, ""),
        new: ("r9", "a", "starting", 40.0, ""),
    }
