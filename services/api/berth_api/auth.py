"""Who is calling: Bearer tokens and dashboard sessions, both stored only as SHA-256 hashes.

A token is named, has a scope (``read``, ``deploy``, ``admin``; see :mod:`berth_api.scopes`),
may be limited to apps and may expire. The root admin token is seeded once at first start.
A session (the dashboard's cookie) belongs to the token it was created from: it carries that
token's scope and ends with it (revoked, expired or rotated)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
from berth_shared.errors import Unauthorized

from berth_api.scopes import Principal, Scope

TOKEN_PREFIX = "berth_"
# last_used_at is written at most this often per token (not on every request).
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def new_token_value() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


async def seed_admin_token(pool: asyncpg.Pool, token: str | None) -> None:
    """Store ``token`` as the root admin token if no token exists yet (first start)."""
    if not token:
        return
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE tokens IN EXCLUSIVE MODE")
        if await conn.fetchval("SELECT count(*) FROM tokens") == 0:
            await conn.execute(
                "INSERT INTO tokens (id, name, token_hash, scope, root) VALUES ($1, 'admin', $2, 'admin', true)",
                uuid.uuid4(),
                hash_token(token),
            )


def bearer_token(header: str | None) -> str:
    if not header:
        raise Unauthorized("missing Authorization header; send `Authorization: Bearer <token>`")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization must be `Bearer <token>`")
    return token.strip()


def principal_of(row: asyncpg.Record) -> Principal:
    apps = row["apps"]
    return Principal(
        token_id=row["id"],
        name=str(row["name"]),
        scope=Scope(row["scope"]),
        apps=frozenset(apps) if apps is not None else None,
        expires_at=row["expires_at"],
    )


def check_live(row: asyncpg.Record, now: datetime) -> None:
    """Unauthorized when the token has expired."""
    expires = row["expires_at"]
    if expires is not None and expires <= now:
        raise Unauthorized(f"token {row['name']!r} expired at {expires.isoformat().replace('+00:00', 'Z')}")


async def _touch(pool: asyncpg.Pool, row: asyncpg.Record, now: datetime) -> None:
    last = row["last_used_at"]
    if last is None or now - last >= LAST_USED_RESOLUTION:
        await pool.execute("UPDATE tokens SET last_used_at = $2 WHERE id = $1", row["id"], now)


async def authenticate_token(pool: asyncpg.Pool, token: str) -> Principal:
    """The principal of a token value; Unauthorized when it is unknown (or revoked) or expired."""
    digest = hash_token(token)
    row = await pool.fetchrow("SELECT * FROM tokens WHERE token_hash = $1", digest)
    if row is None or not hmac.compare_digest(row["token_hash"], digest):
        raise Unauthorized("invalid token")
    now = datetime.now(UTC)
    check_live(row, now)
    await _touch(pool, row, now)
    return principal_of(row)


async def authenticate(pool: asyncpg.Pool, header: str | None) -> Principal:
    """The principal of an ``Authorization: Bearer`` header, or Unauthorized."""
    return await authenticate_token(pool, bearer_token(header))


async def authenticate_session(pool: asyncpg.Pool, session_id: str) -> Principal:
    """The principal of a live session: its token's, while the token lives; else Unauthorized."""
    row = await pool.fetchrow(
        "SELECT t.* FROM sessions s JOIN tokens t ON t.token_hash = s.token_hash "
        "WHERE s.id_hash = $1 AND s.expires_at > now()",
        session_hash(session_id),
    )
    if row is None:
        raise Unauthorized("session expired or signed out; sign in again")
    now = datetime.now(UTC)
    check_live(row, now)
    await _touch(pool, row, now)
    return principal_of(row)
