"""/api/tokens: named API tokens with scopes (admin only). A value is shown once, when the
token is created or rotated; listings never include values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import ConfigDict, Field

from berth_api import tokens_store
from berth_api.deps import Actor, State, authorize
from berth_api.scopes import Scope
from berth_api.validation import Body
from berth_api.views import token_view

router = APIRouter(prefix="/api", dependencies=[Depends(authorize)])

TOKEN_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class TokenIn(Body):
    # The schema states the rule the store checks: only a deploy token lists apps (at least one).
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"scope": {"const": "deploy"}}},
            "then": {"properties": {"apps": {"anyOf": [{"type": "null"}, {"type": "array", "minItems": 1}]}}},
            "else": {"properties": {"apps": {"type": "null"}}},
        }
    )

    name: Annotated[str, Field(pattern=TOKEN_NAME_PATTERN, description="letters, digits, . _ -; at most 64")]
    scope: Scope
    apps: Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]] | None, Field(max_length=100)] = None
    expires_at: Annotated[datetime | None, Field(alias="expiresAt")] = None


@router.get("/tokens")
async def list_tokens(s: State) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"items": [token_view(r, now) for r in await tokens_store.all_tokens(s.pool)]}


@router.post("/tokens", status_code=201)
async def create_token(body: TokenIn, s: State, actor: Actor) -> dict[str, Any]:
    """A new token; ``token`` in the reply is its value, shown this once."""
    async with s.pool.acquire() as conn:
        row, value = await tokens_store.create(conn, body.name, body.scope, body.apps, body.expires_at, actor=actor)
    return {**token_view(row, datetime.now(UTC)), "token": value}


@router.post("/tokens/rotate")
async def rotate_admin_token(s: State, actor: Actor) -> dict[str, Any]:
    """A new value for the admin token; the old value stops working and every session ends.
    ``rotatedOwnToken``: whether the caller used the admin token itself (its copy is now stale)."""
    async with s.pool.acquire() as conn:
        row, value, sessions = await tokens_store.rotate_admin(conn, actor=actor)
    view = token_view(row, datetime.now(UTC))
    return {**view, "token": value, "sessionsRevoked": sessions, "rotatedOwnToken": actor.token_id == row["id"]}


@router.delete("/tokens/{token_id}")
async def revoke_token(token_id: str, s: State, actor: Actor) -> dict[str, Any]:
    """Revoke a token (by id or name) and end every session made from it."""
    async with s.pool.acquire() as conn:
        row, sessions = await tokens_store.revoke(conn, token_id, actor=actor)
    return {"id": str(row["id"]), "name": row["name"], "revoked": True, "sessionsRevoked": sessions}
