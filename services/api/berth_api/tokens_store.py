"""Named API tokens in the ``api`` schema: create, list, revoke, rotate the root admin token.
Only SHA-256 hashes are stored; a value is returned once, when it is made."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
from berth_shared.db import Connection
from berth_shared.errors import Conflict, FieldError, NotFound, ValidationFailed

from berth_api import apps_store
from berth_api.audit_log import audit
from berth_api.auth import hash_token, new_token_value
from berth_api.scopes import Principal, Scope

LIST_QUERY = (
    "SELECT t.*, (SELECT array_agg(a.name ORDER BY a.name) FROM apps a WHERE a.id = ANY(t.apps)) AS app_names "
    "FROM tokens t"
)


def creation_problems(
    scope: Scope, apps: list[str] | None, expires_at: datetime | None, now: datetime
) -> list[FieldError]:
    """What is wrong with a new token's settings, by field (pure)."""
    problems = []
    if apps is not None and scope != Scope.DEPLOY:
        problems.append(FieldError("apps", "only a deploy token is limited to apps; omit apps for read or admin"))
    if apps is not None and not apps:
        problems.append(FieldError("apps", "list at least one app, or omit apps for every app"))
    if expires_at is not None and expires_at <= now:
        problems.append(FieldError("expiresAt", "must be in the future"))
    return problems


async def _app_ids(conn: Connection, refs: list[str]) -> list[uuid.UUID]:
    ids = []
    for i, ref in enumerate(refs):
        try:
            ids.append((await apps_store.find_app(conn, ref))["id"])
        except NotFound:
            raise ValidationFailed.on(f"apps[{i}]", f"no app {ref!r}") from None
    return sorted(set(ids))


async def create(
    conn: Connection,
    name: str,
    scope: Scope,
    apps: list[str] | None,
    expires_at: datetime | None,
    *,
    actor: Principal,
) -> tuple[asyncpg.Record, str]:
    """A new token and its value (shown once)."""
    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    problems = creation_problems(scope, apps, expires_at, datetime.now(UTC))
    if problems:
        raise ValidationFailed("; ".join(f"{p.field}: {p.message}" for p in problems), details=problems)
    value = new_token_value()
    async with conn.transaction():
        app_ids = await _app_ids(conn, apps) if apps is not None else None
        token_id = uuid.uuid4()
        try:
            await conn.execute(
                "INSERT INTO tokens (id, name, token_hash, scope, apps, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
                token_id,
                name,
                hash_token(value),
                str(scope),
                app_ids,
                expires_at,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(f"a token named {name!r} exists; revoke it or choose another name") from None
        detail: dict[str, object] = {"tokenId": str(token_id), "name": name, "scope": str(scope), "apps": apps}
        await audit(conn, actor, "token.create", None, detail)
        row = await conn.fetchrow(f"{LIST_QUERY} WHERE t.id = $1", token_id)
    assert row is not None
    return row, value


async def all_tokens(conn: Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    return list(await conn.fetch(f"{LIST_QUERY} ORDER BY t.root DESC, t.created_at, t.name"))


async def find(conn: Connection | asyncpg.Pool, ref: str) -> asyncpg.Record:
    """A token by id or by name; NotFound otherwise."""
    try:
        row = await conn.fetchrow("SELECT * FROM tokens WHERE id = $1", uuid.UUID(ref))
    except ValueError:
        row = await conn.fetchrow("SELECT * FROM tokens WHERE name = $1", ref)
    if row is None:
        raise NotFound(f"token {ref!r} not found (see `berth tokens list`)")
    return row


async def revoke(conn: Connection, ref: str, *, actor: Principal) -> tuple[asyncpg.Record, int]:
    """Delete a token and every session made from it; the root admin token is rotated instead."""
    async with conn.transaction():
        row = await find(conn, ref)
        if row["root"]:
            raise Conflict("the admin token cannot be revoked; replace it with `berth token rotate`")
        sessions = await conn.fetchval(
            "WITH gone AS (DELETE FROM sessions WHERE token_hash = $1 RETURNING 1) SELECT count(*) FROM gone",
            row["token_hash"],
        )
        await conn.execute("DELETE FROM tokens WHERE id = $1", row["id"])
        detail: dict[str, object] = {"tokenId": str(row["id"]), "name": row["name"], "sessionsRevoked": sessions}
        await audit(conn, actor, "token.revoke", None, detail)
    return row, int(sessions)


async def rotate_admin(conn: Connection, *, actor: Principal) -> tuple[asyncpg.Record, str, int]:
    """A new value for the root admin token (the old one stops working) and every session
    revoked. Returns the token, its new value (shown once) and how many sessions ended."""
    value = new_token_value()
    async with conn.transaction():
        row = await conn.fetchrow(
            "UPDATE tokens SET token_hash = $1, created_at = now(), last_used_at = NULL WHERE root RETURNING *",
            hash_token(value),
        )
        if row is None:
            raise Conflict("there is no admin token to rotate (it is seeded by `berth up` at first start)")
        sessions = await conn.fetchval("WITH gone AS (DELETE FROM sessions RETURNING 1) SELECT count(*) FROM gone")
        detail: dict[str, object] = {"tokenId": str(row["id"]), "sessionsRevoked": sessions}
        await audit(conn, actor, "token.rotate", None, detail)
        listed = await conn.fetchrow(f"{LIST_QUERY} WHERE t.id = $1", row["id"])
    assert listed is not None
    return listed, value, int(sessions)
