"""Answers the runtime agent's ``berth.rpc.api.desired.run`` (ADR 0026 §5): what to start for a
run it was told to start — the run's release image, its argv, the app's limits and the app's
environment sealed to the agent's key (never in clear, never in the command)."""

from __future__ import annotations

import json
import uuid

import asyncpg
from berth_shared.contracts.base import decode
from berth_shared.contracts.desired import Resources
from berth_shared.contracts.runs import DesiredRun, DesiredRunReply, GetDesiredRun
from berth_shared.errors import ValidationFailed
from berth_shared.sealing import SealingError, check_public_key, seal_env

from berth_api import env_store, runs_store
from berth_api.keyring import Keychain

_RUN = (
    "SELECT runs.*, a.memory_mb, a.cpus, a.stop_timeout_seconds, a.deleted_at, r.image "
    "FROM runs JOIN apps a ON a.id = runs.app_id JOIN releases r ON r.id = runs.release_id "
    "WHERE runs.app_id = $1 AND runs.id = $2"
)


def _seal_key(seal_to: str | None) -> str:
    """As for a release (``responders/desired``; handlers import no handler): no usable key, no answer."""
    if not seal_to:
        raise ValidationFailed.on("seal_to", "desired-run queries must carry the agent's public key")
    try:
        check_public_key(seal_to)
    except SealingError as exc:
        raise ValidationFailed.on("seal_to", str(exc)) from None
    return seal_to


async def get(pool: asyncpg.Pool, data: bytes, chain: Keychain | None) -> DesiredRunReply:
    request = decode(data, GetDesiredRun)
    seal_to = _seal_key(request.seal_to)
    try:
        app_id, run_id = uuid.UUID(request.app_id), uuid.UUID(request.run_id)
    except ValueError:
        return DesiredRunReply(run=None)
    row = await pool.fetchrow(_RUN, app_id, run_id)
    if row is None or row["deleted_at"] is not None or row["status"] not in runs_store.UNFINISHED:
        return DesiredRunReply(run=None)
    try:
        env = await env_store.decrypt_all(pool, chain.ring if chain else None, app_id)
    except env_store.UndecryptableEnv as exc:
        raise env_store.Withheld(f"run {run_id} withheld: {exc.message}") from None
    return DesiredRunReply(
        run=DesiredRun(
            run_id=str(run_id),
            app_id=str(app_id),
            kind=row["kind"],
            release_id=str(row["release_id"]),
            image=row["image"],
            command=json.loads(row["command"]),
            sealed_env=seal_env(env, seal_to, str(app_id), str(row["release_id"])),
            resources=Resources(memory_mb=row["memory_mb"], cpus=float(row["cpus"])),
            timeout_seconds=row["timeout_seconds"],
            stop_timeout_seconds=row["stop_timeout_seconds"],
            attach=row["attach"],
            stdin=row["stdin"],
            job=row["job"] or "",
        )
    )
