"""/api/session: the dashboard's sign-in. A token is exchanged for an HttpOnly,
SameSite=Strict cookie holding a random session id; only the id's SHA-256 is stored (table
``sessions``). Cookie-authenticated requests that change something must also carry the
``X-Berth-CSRF: 1`` header, which a cross-site form or image cannot send. Bearer tokens keep
working as before (the CLI, scripts) and need no such header. A session carries the scope of
the token it was made from and ends with it (revoked, expired, rotated)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from berth_shared.errors import Forbidden, Unauthorized
from fastapi import APIRouter, Request, Response
from pydantic import Field

from berth_api.audit_log import audit
from berth_api.auth import authenticate_token, hash_token, session_hash
from berth_api.deps import CSRF_HEADER, principal, session_cookie
from berth_api.edge.context import session_cookie_spec
from berth_api.validation import Body

LIFETIME = timedelta(days=7)

router = APIRouter(prefix="/api")


class SignIn(Body):
    token: str = Field(min_length=1, max_length=4096)


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.berth.pool
    return pool


def _set_cookie(request: Request, response: Response, value: str, max_age: int) -> None:
    """Over HTTPS (directly, or at the proxy that vouched for the request) the cookie is
    ``__Host-berth_session`` and Secure; over plain HTTP ``berth_session``."""
    spec = session_cookie_spec(request.scope)
    response.set_cookie(
        spec.name,
        value,
        max_age=max_age,
        path=spec.path,
        httponly=spec.httponly,
        samesite=spec.samesite,
        secure=spec.secure,
    )


@router.post("/session", status_code=201)
async def sign_in(body: SignIn, request: Request, response: Response) -> dict[str, Any]:
    """Exchange a token for a session cookie (the token is never stored by the browser); the
    session has the token's scope and ends when the token expires or is revoked."""
    if request.headers.get(CSRF_HEADER) != "1":
        raise Forbidden(f"sign-in needs the header {CSRF_HEADER}: 1")
    pool = _pool(request)
    try:
        actor = await authenticate_token(pool, body.token)
    except Unauthorized:
        raise Unauthorized("that token is not valid") from None
    session_id = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + LIFETIME
    if actor.expires_at is not None:
        expires = min(expires, actor.expires_at)
    token_hash = hash_token(body.token)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM sessions WHERE expires_at <= now()")
        await conn.execute(
            "INSERT INTO sessions (id_hash, actor, token_hash, expires_at) VALUES ($1, $2, $3, $4)",
            session_hash(session_id),
            actor.name,
            token_hash,
            expires,
        )
        await audit(conn, actor, "session.create", None, {})
    _set_cookie(request, response, session_id, int((expires - datetime.now(UTC)).total_seconds()))
    return {"actor": actor.name, "scope": actor.scope, "expiresAt": expires.isoformat().replace("+00:00", "Z")}


@router.get("/session")
async def current_session(request: Request) -> dict[str, Any]:
    """Who is signed in: ``{signedIn, actor, scope, domain}`` (200 either way: how the dashboard
    knows whether to show its sign-in page, and which actions to offer, without provoking an
    error). ``domain`` (``BERTH_DOMAIN``, apps are ``<name>.<domain>``) only to the signed in."""
    try:
        who = await principal(request)
    except (Unauthorized, Forbidden):
        return {"signedIn": False, "actor": None, "scope": None, "domain": None}
    domain = request.app.state.berth.settings.domain
    return {"signedIn": True, "actor": who.name, "scope": who.scope, "domain": domain}


@router.delete("/session")
async def sign_out(request: Request, response: Response) -> dict[str, Any]:
    """Forget the session (server side) and clear the cookie. Safe to call when signed out."""
    if request.headers.get(CSRF_HEADER) != "1":
        raise Forbidden(f"sign-out needs the header {CSRF_HEADER}: 1")
    cookie = session_cookie(request)
    if cookie:
        await _pool(request).execute("DELETE FROM sessions WHERE id_hash = $1", session_hash(cookie))
    _set_cookie(request, response, "", 0)
    return {"signedOut": True}
