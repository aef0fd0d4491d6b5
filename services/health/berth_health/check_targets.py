"""What to check: apps (config, subnet, port) from the API's app events, live slots from the
agent's release events, liveness from container events. Kept in the ``apps`` table so the
schedule is rebuilt after a restart; handlers are idempotent. A resync from the API's app list
(at start and every minute) repairs what lost events left behind (ADR 0018)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

import asyncpg
import msgspec
from berth_shared import bus, resync
from berth_shared.app_cleanup import AppCleanup
from berth_shared.contracts.apps import AppCreated, AppDeleted, AppEvent, AppUpdated
from berth_shared.contracts.base import decode
from berth_shared.contracts.containers import ContainerEvent, ContainerExited, ContainerOomKilled, ContainerStarted
from berth_shared.contracts.health import (
    AppRecovered,
    AppUnhealthy,
    HealthCheck,
    RestartRequested,
    RestartsExhausted,
    health_event_subject,
)
from berth_shared.contracts.owner_state import AppFacts
from berth_shared.contracts.releases import AgentEvent, AppCrashed, ReleaseFailed, ReleaseLive
from berth_shared.netplan import slot_address
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from berth_health import machine
from berth_health.checker import Checker, Target
from berth_health.instances import AddressOf, instance_hosts, serves_web
from berth_health.machine import Action, HealthState, Transition
from berth_health.resync import HealthResync, HeldApp, health_resync
from berth_health.webhooks import Webhooks

log = logging.getLogger("berth.health.tracker")


def _check_of(raw: Any) -> HealthCheck | None:
    if raw is None:
        return None
    return msgspec.json.decode(raw.encode() if isinstance(raw, str) else raw, type=HealthCheck)


def _state_of(raw: Any) -> HealthState:
    return HealthState.from_json(json.loads(raw) if isinstance(raw, str) else raw)


class CheckTargets:
    """The checker's targets and the ``apps`` table behind them, kept from app and agent events."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        js: JetStreamContext,
        checker: Checker,
        webhooks: Webhooks,
        address_of: AddressOf = slot_address,
    ) -> None:
        self.pool = pool
        self.js = js
        self.checker = checker
        self.webhooks = webhooks
        self.address_of = address_of

    async def load(self) -> int:
        """Rebuild every target from the table (after a restart)."""
        rows = await self.pool.fetch("SELECT * FROM apps")
        for row in rows:
            self._apply_row(row, None)
        return len(self.checker.targets)

    def _apply_row(self, row: asyncpg.Record, state: HealthState | None) -> None:
        app_id = row["app_id"]
        if not (row["configured"] and row["release_id"] and row["slot"] in ("a", "b")) or row["no_instances"]:
            self.checker.remove(app_id)  # nothing to check (no web instance: the proxy answers 503)
            return
        current = self.checker.targets.get(app_id)
        if state is None:
            state = current.state if current and current.release_id == row["release_id"] else _state_of(row["state"])
        self.checker.upsert(
            Target(
                app_id=app_id,
                release_id=row["release_id"],
                slot=row["slot"],
                hosts=instance_hosts(row["subnet"], row["slot"], row["addresses"], self.address_of),
                port=row["port"],
                check=_check_of(row["health_check"]),
                state=state,
            )
        )

    # -- app events (the API) --

    async def on_app_event(self, msg: Msg) -> None:
        event: AppEvent = decode(msg.data, AppEvent)
        match event:
            case AppCreated() | AppUpdated():
                await self._configure(event)
            case AppDeleted():
                await self.pool.execute("DELETE FROM apps WHERE app_id = $1", event.app_id)
                self.checker.remove(event.app_id)

    async def _configure(self, app: AppCreated | AppUpdated | AppFacts) -> None:
        check = msgspec.json.encode(app.health_check).decode() if app.health_check else None
        row = await self.pool.fetchrow(
            "INSERT INTO apps (app_id, name, subnet, port, health_check, configured) "
            "VALUES ($1, $2, $3, $4, $5::jsonb, true) ON CONFLICT (app_id) DO UPDATE SET "
            "name = EXCLUDED.name, subnet = EXCLUDED.subnet, port = EXCLUDED.port, "
            "health_check = EXCLUDED.health_check, configured = true, updated_at = now() RETURNING *",
            app.app_id,
            app.name,
            app.subnet,
            app.port,
            check,
        )
        assert row is not None
        self._apply_row(row, None)

    # -- resync from the API's app list (lost events; ADR 0018) --

    async def held(self) -> dict[str, HeldApp]:
        """The ``apps`` table (read before asking the API)."""
        rows = await self.pool.fetch("SELECT * FROM apps")
        return {
            row["app_id"]: HeldApp(
                app_id=row["app_id"],
                configured=row["configured"],
                name=row["name"],
                subnet=row["subnet"],
                port=row["port"],
                health_check=_check_of(row["health_check"]),
                release_id=row["release_id"],
                slot=row["slot"],
                live_at=row["live_at"],
                addresses=tuple(row["addresses"]),
                no_instances=row["no_instances"],
            )
            for row in rows
        }

    async def resync(self, nc: Client, history: AppCleanup) -> HealthResync:
        """Repair the targets from the API's app list, then delete the check ``history`` of every
        app it no longer has (both read before the list is asked for)."""

        async def holding() -> tuple[dict[str, HeldApp], Iterable[str]]:
            return await self.held(), await history.held()

        (held, checked), owner = await resync.held_then_owner(nc, "health", holding)
        plan = health_resync(held, owner.apps)
        for app in plan.configure:
            await self._configure(app)
            log.warning("resync: app %s configured from the API (an app event was lost)", app.app_id)
        for app in plan.went_live:
            assert app.live is not None
            live = app.live
            await self._on_live(
                ReleaseLive(
                    app_id=app.app_id,
                    release_id=live.release_id,
                    slot=live.slot,
                    at=live.live_at,
                    addresses=live.addresses,
                    no_instances=live.no_instances,
                )
            )
            log.warning("resync: app %s checks release %s (its ReleaseLive was lost)", app.app_id, live.release_id)
        for app_id in plan.removals:
            self.checker.remove(app_id)
            await self.pool.execute("DELETE FROM apps WHERE app_id = $1", app_id)
            log.warning("resync: deleted app %s no longer checked (its AppDeleted was lost)", app_id)
        # A removed target may have written checks since ``checked`` was read: its history goes too.
        await history.delete_stale({*checked, *plan.removals}, owner.apps)
        return plan

    # -- agent events (release outcomes, containers) --

    async def on_agent_event(self, msg: Msg) -> None:
        event: AgentEvent | ContainerEvent = decode(msg.data, AgentEvent | ContainerEvent)
        match event:
            case ReleaseLive():
                if not await self._on_live(event):
                    return  # the live release scaled: no new deploy
                await self.webhooks.enqueue(
                    event.id,
                    "deploy.succeeded",
                    event.app_id,
                    {"releaseId": event.release_id, "slot": event.slot, "imageDigest": event.image_digest},
                    event.at,
                )
            case ReleaseFailed():
                await self.webhooks.enqueue(
                    event.id,
                    "deploy.failed",
                    event.app_id,
                    {"releaseId": event.release_id, "reason": event.reason},
                    event.at,
                )
                target = self.checker.targets.get(event.app_id)
                if target is not None:
                    target.state = machine.restart_failed(target.state)
                await self._still_unhealthy(event.app_id)
            case AppCrashed():
                await self.webhooks.enqueue(
                    event.id,
                    "app.crashed",
                    event.app_id,
                    {
                        "releaseId": event.release_id,
                        "exitCode": event.exit_code,
                        "restarts": event.restarts,
                        "reason": event.reason or f"exited with code {event.exit_code} after {event.restarts} restarts",
                    },
                    event.at,
                )
                if serves_web(event.process, ""):
                    reason = event.reason or f"crashed with exit code {event.exit_code}"
                    self._liveness(event.app_id, event.release_id, False, reason)
            case ContainerStarted() | ContainerExited() | ContainerOomKilled() if not serves_web(
                event.process, event.run_id
            ):
                pass  # a worker, a release command or a run: web's health is not about them
            case ContainerStarted():
                self._liveness(event.app_id, event.release_id, True, "")
            case ContainerExited() if not event.expected:
                self._liveness(event.app_id, event.release_id, False, f"container exited with code {event.exit_code}")
            case ContainerOomKilled():
                self._liveness(event.app_id, event.release_id, False, "container was killed for running out of memory")
            case _:
                pass

    async def _on_live(self, e: ReleaseLive) -> bool:
        """Check ``e``'s release from now on; False when it is the live release at other web
        addresses (a scale: only where it is checked moves). A redelivery changes nothing (True:
        its webhook is enqueued once per event id, also after a crash before it was)."""
        current = await self.pool.fetchrow("SELECT * FROM apps WHERE app_id = $1", e.app_id)
        if current is not None and current["release_id"] == e.release_id and current["slot"] == e.slot:
            if (list(current["addresses"]), current["no_instances"]) != (e.addresses, e.no_instances):
                # the same release, scaled: check where it is now (nowhere at web 0)
                row = await self.pool.fetchrow(
                    "UPDATE apps SET addresses = $2, no_instances = $3, updated_at = now() WHERE app_id = $1 "
                    "RETURNING *",
                    e.app_id,
                    e.addresses,
                    e.no_instances,
                )
                assert row is not None
                self._apply_row(row, None)
                return False
            return True  # redelivered
        target = self.checker.targets.get(e.app_id)
        before = target.state if target else _state_of(current["state"]) if current else HealthState()
        state = machine.went_live(before, e.at.timestamp())
        row = await self.pool.fetchrow(
            "INSERT INTO apps (app_id, release_id, slot, live_at, state, addresses, no_instances) "
            "VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7) "
            "ON CONFLICT (app_id) DO UPDATE SET release_id = EXCLUDED.release_id, slot = EXCLUDED.slot, "
            "live_at = EXCLUDED.live_at, state = EXCLUDED.state, addresses = EXCLUDED.addresses, "
            "no_instances = EXCLUDED.no_instances, updated_at = now() RETURNING *",
            e.app_id,
            e.release_id,
            e.slot,
            e.at,
            json.dumps(state.to_json()),
            e.addresses,
            e.no_instances,
        )
        assert row is not None
        self._apply_row(row, state)
        return True

    def _liveness(self, app_id: str, release_id: str, running: bool, reason: str) -> None:
        target = self.checker.targets.get(app_id)
        if target is not None and target.release_id == release_id:
            self.checker.liveness(app_id, running, reason)

    async def _still_unhealthy(self, app_id: str) -> None:
        """A failed rollout (e.g. an automatic restart) leaves the old release serving: if it is
        still unhealthy, say so again so the app's status does not read ``running``."""
        target = self.checker.targets.get(app_id)
        if target is None or target.state.state != "unhealthy":
            return
        event = AppUnhealthy(
            app_id=app_id,
            release_id=target.release_id,
            slot=target.slot,
            reason=target.state.reason,
            consecutive_failures=target.state.fail_streak,
            new_episode=False,
            liveness_only=target.check is None,
        )
        await bus.publish(self.js, health_event_subject("unhealthy", app_id), event, msg_id=event.id)

    # -- effects of the checker: persist, then publish --

    async def on_change(self, target: Target, transition: Transition | None, action: Action | None) -> None:
        await self.pool.execute(
            "UPDATE apps SET state = $3::jsonb, updated_at = now() WHERE app_id = $1 AND release_id = $2",
            target.app_id,
            target.release_id,
            json.dumps(target.state.to_json()),
        )
        subject: str
        message: msgspec.Struct
        if transition is not None and transition.kind == "unhealthy":
            subject = health_event_subject("unhealthy", target.app_id)
            message = AppUnhealthy(
                app_id=target.app_id,
                release_id=target.release_id,
                slot=target.slot,
                reason=transition.reason,
                consecutive_failures=transition.consecutive_failures,
                new_episode=transition.new_episode,
                liveness_only=target.check is None,
            )
        elif transition is not None:
            subject = health_event_subject("recovered", target.app_id)
            message = AppRecovered(
                app_id=target.app_id,
                release_id=target.release_id,
                slot=target.slot,
                unhealthy_seconds=round(transition.unhealthy_seconds, 3),
                liveness_only=target.check is None,
            )
        elif action is not None and action.kind == "restart":
            assert target.check is not None
            subject = health_event_subject("restart_requested", target.app_id)
            message = RestartRequested(
                app_id=target.app_id,
                release_id=target.release_id,
                unhealthy_seconds=round(action.unhealthy_seconds, 3),
                attempt=action.attempt,
                max_restarts=target.check.max_restarts,
            )
        elif action is not None:
            subject = health_event_subject("gave_up", target.app_id)
            message = RestartsExhausted(
                app_id=target.app_id,
                release_id=target.release_id,
                restarts=action.attempt,
                unhealthy_seconds=round(action.unhealthy_seconds, 3),
            )
        else:
            return
        log.info("app %s: %s", target.app_id, subject.split(".")[4], extra={"app_id": target.app_id})
        await bus.publish(self.js, subject, message, msg_id=getattr(message, "id", None))
