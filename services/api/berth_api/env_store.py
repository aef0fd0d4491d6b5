"""Environment variables of apps, sealed at rest (``api.env_vars``).

Rules: a value never leaves this module except to the caller that asked for it (reveal, or
the desired state sent to the runtime agent over core NATS request/reply). Errors, audit
entries, release records and log lines name keys, never values.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass, field

import asyncpg
from berth_shared.db import Connection
from berth_shared.errors import Conflict, FieldError, ValidationFailed

from berth_api import apps_store, envelope
from berth_api.audit_log import Actor, audit
from berth_api.keyring import Keychain, Keyring

log = logging.getLogger("berth.api.env")

ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_KEY_LENGTH = 256
MAX_VALUE_BYTES = 32 * 1024
MAX_VARS_PER_APP = 500
RESERVED_KEYS = frozenset({"PORT"})
RESERVED_PREFIX = "BERTH_"
# Env writers hold this lock shared; rotation takes it exclusively to retire keys (see rotation).
KEYS_LOCK = "api.secrets.keys"


class UndecryptableEnv(Conflict):
    """A stored value that does not open with the keyring. Names the key, never a value."""

    def __init__(self, name: str, reason: str, app: str | None = None) -> None:
        where = f" of app {app}" if app else ""
        super().__init__(f"cannot decrypt env var {name}{where}: {reason}")
        self.name = name
        self.reason = reason


def key_problem(name: str) -> str | None:
    if len(name) > MAX_KEY_LENGTH:
        return f"key is longer than {MAX_KEY_LENGTH} characters"
    if not ENV_KEY.fullmatch(name):  # not .match: "$" would let a trailing newline through
        return "key must match [A-Za-z_][A-Za-z0-9_]* (letters, digits, underscores; not starting with a digit)"
    if name in RESERVED_KEYS or name.startswith(RESERVED_PREFIX):
        return "key is reserved: PORT and BERTH_* are set by the platform"
    return None


def value_problem(value: str) -> str | None:
    if len(value.encode("utf-8")) > MAX_VALUE_BYTES:
        return f"value is longer than {MAX_VALUE_BYTES} bytes (32 KiB)"
    if "\x00" in value:
        return "value must not contain NUL characters"
    return None


def _label(name: str) -> str:
    """A key as it may appear in an error: as given when short and printable, else truncated
    and repr-escaped."""
    if len(name) <= 64 and name.isprintable():
        return name
    return repr(name[:64]) + ("..." if len(name) > 64 else "")


def check_change(vars: dict[str, str], unset: list[str]) -> None:
    """Every problem of a change at once, each naming its key (never its value)."""
    details: list[FieldError] = []
    for name, value in vars.items():
        problem = key_problem(name) or value_problem(value)
        if problem:
            details.append(FieldError(f"vars.{_label(name)}", problem))
    for i, name in enumerate(unset):
        problem = key_problem(name)
        if problem:
            details.append(FieldError(f"unset[{i}]", f"{_label(name)}: {problem}"))
        elif name in vars:
            details.append(FieldError(f"unset[{i}]", f"{name}: is both set and unset in one change"))
    if not vars and not unset:
        details.append(FieldError("body", "give vars to set and/or unset to remove"))
    if details:
        raise ValidationFailed("; ".join(f"{d.field}: {d.message}" for d in details), details=details)


@dataclass
class Changes:
    set: list[str] = field(default_factory=list)
    unset: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.set or self.unset)

    def as_json(self) -> dict[str, list[str]]:
        return {"set": sorted(self.set), "unset": sorted(self.unset)}


def _open(ring: Keyring, row: asyncpg.Record, app_id: uuid.UUID) -> str:
    try:
        return envelope.open(bytes(row["ciphertext"]), ring.by_id(), str(app_id), row["name"])
    except envelope.EnvelopeError as exc:
        raise UndecryptableEnv(row["name"], str(exc)) from None


async def rows_of(conn: Connection | asyncpg.Pool, app_id: uuid.UUID) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT name, key_id, ciphertext, created_at, updated_at FROM env_vars WHERE app_id = $1 ORDER BY name",
            app_id,
        )
    )


async def decrypt_all(conn: Connection | asyncpg.Pool, ring: Keyring | None, app_id: uuid.UUID) -> dict[str, str]:
    """Every value of the app, or UndecryptableEnv for the first (by name) that does not open:
    never a partial environment."""
    rows = await rows_of(conn, app_id)
    if rows and ring is None:
        raise UndecryptableEnv(rows[0]["name"], "no master key is configured")
    assert ring is not None or not rows
    return {row["name"]: _open(ring, row, app_id) for row in rows} if ring else {}


async def change(
    conn: Connection,
    chain: Keychain,
    ref: str,
    vars: dict[str, str],
    unset: list[str],
    *,
    deploy: bool,
    actor: Actor,
    host: str,
) -> tuple[asyncpg.Record, asyncpg.Record | None, Changes]:
    """Set and remove variables in one transaction. When something changed, ``deploy`` is on
    and the app has a release running or in flight, a ``config`` release rolls it out."""
    check_change(vars, unset)
    async with conn.transaction():
        app = await apps_store.find_app(conn, ref, for_update=True)
        await conn.execute("SELECT pg_advisory_xact_lock_shared(hashtext($1))", KEYS_LOCK)
        ring = chain.ring  # read after the lock: a rotation retiring keys has finished or not started
        existing = {row["name"]: row for row in await rows_of(conn, app["id"])}
        changes = Changes()
        for name in sorted(vars):
            row = existing.get(name)
            if row is not None:
                try:
                    if _open(ring, row, app["id"]) == vars[name]:
                        continue
                except UndecryptableEnv:
                    pass  # overwriting a broken value repairs it
            changes.set.append(name)
        changes.unset = sorted(n for n in set(unset) if n in existing)
        new_keys = [n for n in changes.set if n not in existing]
        total = len(existing) + len(new_keys) - len(changes.unset)
        if total > MAX_VARS_PER_APP:
            name = new_keys[-1]
            raise ValidationFailed(
                f"vars.{name}: app {app['name']!r} would have {total} env vars; at most {MAX_VARS_PER_APP} are allowed",
                details=[FieldError(f"vars.{name}", f"at most {MAX_VARS_PER_APP} env vars per app")],
            )
        if not changes:
            return app, None, changes
        for name in changes.set:
            sealed = envelope.seal(vars[name], ring.current, ring.current_key, str(app["id"]), name)
            await conn.execute(
                "INSERT INTO env_vars (app_id, name, key_id, ciphertext) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (app_id, name) DO UPDATE SET key_id = excluded.key_id, "
                "ciphertext = excluded.ciphertext, updated_at = now()",
                app["id"],
                name,
                ring.current,
                sealed,
            )
        if changes.unset:
            await conn.execute(
                "DELETE FROM env_vars WHERE app_id = $1 AND name = ANY($2::text[])", app["id"], changes.unset
            )
        release = None
        target = await rollout_target(conn, app)
        if deploy and target is not None:
            image = apps_store.pinned_image(target)
            app, release = await apps_store.create_release(conn, str(app["id"]), image, "config", host, actor=actor)
            release = await conn.fetchrow(
                "UPDATE releases SET env_changes = $2::jsonb WHERE id = $1 RETURNING *",
                release["id"],
                json.dumps(changes.as_json()),
            )
        await audit(
            conn,
            actor,
            "env.change",
            app["id"],
            {
                **changes.as_json(),
                "deploy": deploy,
                "releaseVersion": release["version"] if release is not None else None,
            },
        )
        return app, release, changes


async def rollout_target(conn: Connection, app: asyncpg.Record) -> asyncpg.Record | None:
    """The release a config change re-runs: the one in flight if any (its image is the newest
    request), else the live one; None before the first deploy."""
    for column in ("desired_release_id", "current_release_id"):
        if app[column] is None:
            continue
        row: asyncpg.Record | None = await conn.fetchrow("SELECT * FROM releases WHERE id = $1", app[column])
        if row is not None and (column == "current_release_id" or row["status"] in apps_store.ACTIVE_RELEASE_STATES):
            return row
    return None


async def reveal(
    conn: Connection, ring: Keyring, ref: str, actor: Actor
) -> tuple[asyncpg.Record, list[asyncpg.Record], dict[str, str]]:
    """All values in clear, recorded in the audit log (who, when, which keys)."""
    async with conn.transaction():
        app = await apps_store.find_app(conn, ref)
        rows = await rows_of(conn, app["id"])
        values = {row["name"]: _open(ring, row, app["id"]) for row in rows}
        await audit(conn, actor, "env.reveal", app["id"], {"keys": sorted(values)})
        return app, rows, values


class Withheld(Conflict):
    """The API refuses to describe an app's desired state it cannot state in full."""
