"""Bearer tokens, stored as SHA-256 hashes. The admin token is seeded once at first start."""

from __future__ import annotations

import hashlib
import hmac
import uuid

import asyncpg
from berth_shared.errors import Unauthorized


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def seed_admin_token(pool: asyncpg.Pool, token: str | None) -> None:
    """Store ``token`` as the admin token if no token exists yet (first start)."""
    if not token:
        return
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE tokens IN EXCLUSIVE MODE")
        if await conn.fetchval("SELECT count(*) FROM tokens") == 0:
            await conn.execute(
                "INSERT INTO tokens (id, name, token_hash) VALUES ($1, 'admin', $2)", uuid.uuid4(), hash_token(token)
            )


def bearer_token(header: str | None) -> str:
    if not header:
        raise Unauthorized("missing Authorization header; send `Authorization: Bearer <token>`")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization must be `Bearer <token>`")
    return token.strip()


async def authenticate(pool: asyncpg.Pool, header: str | None) -> str:
    """The name of the token's owner, or Unauthorized."""
    digest = hash_token(bearer_token(header))
    row = await pool.fetchrow("SELECT name, token_hash FROM tokens WHERE token_hash = $1", digest)
    if row is None or not hmac.compare_digest(row["token_hash"], digest):
        raise Unauthorized("invalid token")
    return str(row["name"])
