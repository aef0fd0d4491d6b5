"""The health service's targets from app and release events, kept in its own Postgres table
(real Postgres through the health service's own role): every web instance of the live slot is
checked (ADR 0026 §2), and an agent from before it still gets its slot's fixed address."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from berth_cli.launcher.platform import Platform
from berth_health.check_targets import CheckTargets
from berth_health.checker import Checker
from berth_health.migrations import MIGRATIONS
from berth_health.service import CONSUMERS
from berth_health.webhooks import Webhooks
from berth_shared.contracts.apps import AppCreated, AppDeleted
from berth_shared.contracts.base import encode
from berth_shared.contracts.containers import ContainerExited
from berth_shared.contracts.releases import AppCrashed, ReleaseLive
from berth_shared.service import ServiceContext, close_context, open_context
from berth_shared.settings import ServiceEnv, Settings

pytestmark = pytest.mark.integration

SUBNET = "10.250.7.16/28"


@dataclass
class Delivered:
    """What the handlers read of a bus message."""

    data: bytes


@pytest.fixture(scope="module")
async def health(infra: Platform) -> AsyncIterator[ServiceContext]:
    env = infra.service_env("health")
    ctx = await open_context(
        "health", MIGRATIONS, CONSUMERS, env=ServiceEnv.from_env(env), settings=Settings.from_env(env)
    )
    try:
        yield ctx
    finally:
        await close_context(ctx)


class SeenWebhooks(Webhooks):
    """Webhooks that remember which events were enqueued."""

    def __init__(self, ctx: ServiceContext) -> None:
        super().__init__(ctx.pool)
        self.seen: list[str] = []

    async def enqueue(self, event_id: str, event: str, app_id: str, details: dict[str, Any], at: datetime) -> int:
        self.seen.append(event)
        return await super().enqueue(event_id, event, app_id, details, at)


def targets_of(ctx: ServiceContext) -> CheckTargets:
    return CheckTargets(ctx.pool, ctx.js, Checker(), SeenWebhooks(ctx))


async def test_every_web_instance_is_checked_and_a_scale_moves_the_checks_without_starting_over(
    health: ServiceContext,
) -> None:
    app_id = f"app-{uuid.uuid4().hex[:8]}"
    targets = targets_of(health)
    created = AppCreated(app_id=app_id, name="web", hostname="web.berth.test", port=8080, subnet=SUBNET)
    await targets.on_app_event(Delivered(encode(created)))  # type: ignore[arg-type]
    try:
        live = ReleaseLive(app_id=app_id, release_id="r1", slot="b", addresses=["10.250.7.19", "10.250.7.21"])
        await targets.on_agent_event(Delivered(encode(live)))  # type: ignore[arg-type]
        assert targets.checker.targets[app_id].hosts == ("10.250.7.19", "10.250.7.21")
        went_live = targets.checker.targets[app_id].state

        # The same release, scaled to one web instance: checked there, its state kept.
        scaled = ReleaseLive(app_id=app_id, release_id="r1", slot="b", addresses=["10.250.7.19"])
        await targets.on_agent_event(Delivered(encode(scaled)))  # type: ignore[arg-type]
        assert targets.checker.targets[app_id].hosts == ("10.250.7.19",)
        assert targets.checker.targets[app_id].state == went_live
        assert targets.webhooks.seen == ["deploy.succeeded"]  # a scale is no new deploy

        # After a restart the targets come back from the table, addresses and all.
        restarted = targets_of(health)
        await restarted.load()
        assert restarted.checker.targets[app_id].hosts == ("10.250.7.19",)

        # Web scaled to 0: nothing is checked (the proxy answers 503), also after a restart;
        # back to one instance: checked again, its state kept, still no new deploy.
        none = ReleaseLive(app_id=app_id, release_id="r1", slot="b", no_instances=True)
        await targets.on_agent_event(Delivered(encode(none)))  # type: ignore[arg-type]
        assert app_id not in targets.checker.targets
        restarted = targets_of(health)
        await restarted.load()
        assert app_id not in restarted.checker.targets
        await targets.on_agent_event(Delivered(encode(scaled)))  # type: ignore[arg-type]
        assert targets.checker.targets[app_id].hosts == ("10.250.7.19",)
        assert targets.checker.targets[app_id].state == went_live
        assert targets.webhooks.seen == ["deploy.succeeded"]

        # An agent from before ADR 0026 names no addresses: the slot's fixed one.
        older = ReleaseLive(app_id=app_id, release_id="r2", slot="a")
        await targets.on_agent_event(Delivered(encode(older)))  # type: ignore[arg-type]
        assert targets.checker.targets[app_id].hosts == ("10.250.7.18",)
    finally:
        deleted = AppDeleted(app_id=app_id, name="web", hostname="web.berth.test", subnet=SUBNET)
        await targets.on_app_event(Delivered(encode(deleted)))  # type: ignore[arg-type]


async def test_only_web_containers_make_an_app_without_a_check_unhealthy(health: ServiceContext) -> None:
    """A cron run that exits 3, a worker that dies or crashes: web keeps serving and the app's
    health says so; a web instance that exits does make it unhealthy."""
    app_id = f"app-{uuid.uuid4().hex[:8]}"
    targets = targets_of(health)
    created = AppCreated(app_id=app_id, name="jobs", hostname="jobs.berth.test", port=8080, subnet=SUBNET)
    await targets.on_app_event(Delivered(encode(created)))  # type: ignore[arg-type]
    try:
        live = ReleaseLive(app_id=app_id, release_id="r1", slot="a", addresses=["10.250.7.18"])
        await targets.on_agent_event(Delivered(encode(live)))  # type: ignore[arg-type]
        before = targets.checker.targets[app_id].state

        exited = {"app_id": app_id, "release_id": "r1", "slot": "a", "container_id": "c1", "exit_code": 3}
        others = [
            ContainerExited(**exited, process="cron", run_id="run-1"),
            ContainerExited(**exited, process="worker"),
            AppCrashed(app_id=app_id, release_id="r1", exit_code=1, restarts=5, process="worker"),
        ]
        for event in others:
            await targets.on_agent_event(Delivered(encode(event)))  # type: ignore[arg-type]
            assert targets.checker.targets[app_id].state == before, event

        await targets.on_agent_event(Delivered(encode(ContainerExited(**exited))))  # type: ignore[arg-type]
        state = targets.checker.targets[app_id].state
        assert (state.state, state.reason) == ("unhealthy", "container exited with code 3")
    finally:
        deleted = AppDeleted(app_id=app_id, name="jobs", hostname="jobs.berth.test", subnet=SUBNET)
        await targets.on_app_event(Delivered(encode(deleted)))  # type: ignore[arg-type]
