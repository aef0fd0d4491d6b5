"""``berth.rpc.health.status.get``: an app's current state, last check, uptime and history."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from berth_shared.contracts.base import decode
from berth_shared.contracts.health import AppHealthState, CheckResult, GetHealth, HealthReport, HealthStates

from berth_health.check_targets import _state_of
from berth_health.checker import Checker
from berth_health.machine import HealthState


def _ts(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def result_of(row: asyncpg.Record) -> CheckResult:
    return CheckResult(
        id=row["id"],
        timestamp=_ts(row["ts"]) or "",
        release_id=row["release_id"],
        slot=row["slot"],
        ok=row["ok"],
        status_code=row["status_code"],
        error=row["error"],
        latency_ms=row["latency_ms"],
    )


async def answer(pool: asyncpg.Pool, checker: Checker, data: bytes) -> HealthReport:
    request = decode(data, GetHealth)
    limit = max(1, min(request.limit, 500))
    target = checker.targets.get(request.app_id)
    row = await pool.fetchrow("SELECT * FROM apps WHERE app_id = $1", request.app_id)
    if target is not None:
        state, release_id, slot, liveness_only = target.state, target.release_id, target.slot, target.check is None
    elif row is not None:
        state, release_id, slot = _state_of(row["state"]), row["release_id"] or "", row["slot"] or ""
        liveness_only = row["health_check"] is None
    else:
        return HealthReport(app_id=request.app_id, state="unknown")
    history = await pool.fetch(
        "SELECT * FROM checks WHERE app_id = $1 AND ($2::bigint IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        request.app_id,
        request.before_id,
        limit + 1,
    )
    more = len(history) > limit
    history = history[:limit]
    last = history[0] if history and request.before_id is None else None
    if last is None:
        last = await pool.fetchrow("SELECT * FROM checks WHERE app_id = $1 ORDER BY id DESC LIMIT 1", request.app_id)
    up = await pool.fetchrow(
        "SELECT avg(ok::int) FILTER (WHERE ts > now() - interval '1 hour') AS h1, "
        "avg(ok::int) FILTER (WHERE ts > now() - interval '24 hours') AS h24, "
        "avg(ok::int) AS d7 FROM checks WHERE app_id = $1 AND ts > now() - interval '7 days'",
        request.app_id,
    )
    assert up is not None
    return HealthReport(
        app_id=request.app_id,
        state=state.state,
        since=_ts(datetime.fromtimestamp(state.since, UTC)) if state.since else None,
        reason=state.reason if state.state != "healthy" else "",
        release_id=release_id,
        slot=slot,
        restarts=state.restarts,
        liveness_only=liveness_only,
        last_check=result_of(last) if last is not None else None,
        uptime={
            k: (round(float(up[c]), 6) if up[c] is not None else None)
            for k, c in (("1h", "h1"), ("24h", "h24"), ("7d", "d7"))
        },
        history=[result_of(r) for r in history],
        next_cursor=history[-1]["id"] if more and history else None,
    )


def app_health_state(app_id: str, release_id: str, slot: str, state: HealthState) -> AppHealthState:
    return AppHealthState(
        app_id=app_id,
        release_id=release_id,
        slot=slot,
        state=state.state,
        since=state.since,
        reason=state.reason,
        consecutive_failures=state.fail_streak,
        episode_since=state.episode_since,
        restarts=state.restarts,
        gave_up=state.gave_up,
    )


async def states(pool: asyncpg.Pool, checker: Checker, data: bytes) -> HealthStates:
    """``berth.rpc.health.states.list``: every app's current state (the live target's when it is
    checked, else the stored one), for the API's resync (ADR 0018)."""
    answer = HealthStates()
    rows = await pool.fetch("SELECT app_id, release_id, slot, state FROM apps")
    found = {
        r["app_id"]: app_health_state(r["app_id"], r["release_id"] or "", r["slot"] or "", _state_of(r["state"]))
        for r in rows
    }
    for app_id, target in list(checker.targets.items()):
        found[app_id] = app_health_state(app_id, target.release_id, target.slot, target.state)
    answer.apps = [found[k] for k in sorted(found)]
    return answer
