"""/api/session: the dashboard's sign-in. The admin token is exchanged for an HttpOnly,
SameSite=Strict cookie holding a random session id; only the id's SHA-256 is stored (table
``sessions``). Cookie-authenticated requests that change something must also carry the
``X-Berth-CSRF: 1`` header, which a cross-site form or image cannot send. Bearer tokens keep
working as before (the CLI, scripts) and need no such header."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import asyncpg
from berth_shared.errors import BerthError, Unauthorized
from fastapi import APIRouter, Request, Response
from pydantic import Field

from berth_api.auth import authenticate, hash_token
from berth_api.validation import Body

COOKIE = "berth_session"
CSRF_HEADER = "x-berth-csrf"
LIFETIME = timedelta(days=7)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

router = APIRouter(prefix="/api")


class Forbidden(BerthError):
    code = "forbidden"
    http_status: ClassVar[int] = 403


class SignIn(Body):
    token: str = Field(min_length=1, max_length=4096)


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.berth.pool
    return pool


def session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def from_cookie(pool: asyncpg.Pool, session_id: str) -> str:
    """The actor of a live session, or Unauthorized."""
    row = await pool.fetchrow(
        "SELECT s.actor FROM sessions s JOIN tokens t ON t.token_hash = s.token_hash "
        "WHERE s.id_hash = $1 AND s.expires_at > now()",
        session_hash(session_id),
    )
    if row is None:
        raise Unauthorized("session expired or signed out; sign in again")
    return str(row["actor"])


async def authenticate_request(request: Request) -> str:
    """The actor behind a request: its Bearer token, else its session cookie. A cookie alone
    authorises a mutation only with the CSRF header."""
    pool = _pool(request)
    header = request.headers.get("authorization")
    cookie = request.cookies.get(COOKIE)
    if header or not cookie:
        return await authenticate(pool, header)
    actor = await from_cookie(pool, cookie)
    if request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != "1":
        raise Forbidden(f"a request signed in by cookie that changes something needs the header {CSRF_HEADER}: 1")
    return actor


def _set_cookie(request: Request, response: Response, value: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https",
    )


@router.post("/session", status_code=201)
async def sign_in(body: SignIn, request: Request, response: Response) -> dict[str, Any]:
    """Exchange the admin token for a session cookie (the token is never stored by the browser)."""
    if request.headers.get(CSRF_HEADER) != "1":
        raise Forbidden(f"sign-in needs the header {CSRF_HEADER}: 1")
    pool = _pool(request)
    try:
        actor = await authenticate(pool, f"Bearer {body.token}")
    except Unauthorized:
        raise Unauthorized("that token is not valid") from None
    session_id = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + LIFETIME
    token_hash = hash_token(body.token)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM sessions WHERE expires_at <= now()")
        await conn.execute(
            "INSERT INTO sessions (id_hash, actor, token_hash, expires_at) VALUES ($1, $2, $3, $4)",
            session_hash(session_id),
            actor,
            token_hash,
            expires,
        )
        await conn.execute("INSERT INTO audit_log (actor, action, detail) VALUES ($1, 'session.create', '{}')", actor)
    _set_cookie(request, response, session_id, int(LIFETIME.total_seconds()))
    return {"actor": actor, "expiresAt": expires.isoformat().replace("+00:00", "Z")}


@router.get("/session")
async def current_session(request: Request) -> dict[str, Any]:
    """Who is signed in: ``{signedIn, actor}`` (200 either way: how the dashboard knows whether
    to show its sign-in page without provoking an error)."""
    header = request.headers.get("authorization")
    cookie = request.cookies.get(COOKIE)
    try:
        if header or not cookie:
            actor = await authenticate(_pool(request), header) if header else None
        else:
            actor = await from_cookie(_pool(request), cookie)
    except Unauthorized:
        actor = None
    return {"signedIn": actor is not None, "actor": actor}


@router.delete("/session")
async def sign_out(request: Request, response: Response) -> dict[str, Any]:
    """Forget the session (server side) and clear the cookie. Safe to call when signed out."""
    if request.headers.get(CSRF_HEADER) != "1":
        raise Forbidden(f"sign-out needs the header {CSRF_HEADER}: 1")
    cookie = request.cookies.get(COOKIE)
    if cookie:
        await _pool(request).execute("DELETE FROM sessions WHERE id_hash = $1", session_hash(cookie))
    _set_cookie(request, response, "", 0)
    return {"signedOut": True}
