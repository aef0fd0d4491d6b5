"""What route handlers depend on: the API state, the authenticated principal, and the scope
check every route passes (its need is declared in :mod:`berth_api.route_scopes`).

The principal comes from the ASGI gate when it already authenticated the request (stored in
``scope["state"]["berth_principal"]`` before the body is read); otherwise it is established
here from the Bearer token or the session cookie. Route modules import these from here only."""

from __future__ import annotations

import uuid
from typing import Annotated

from berth_shared.errors import Forbidden, NotFound
from fastapi import Depends, Request

from berth_api import apps_store
from berth_api.auth import authenticate, authenticate_session
from berth_api.edge.context import session_cookie_value
from berth_api.keyring import Keychain
from berth_api.route_scopes import need_of
from berth_api.scopes import Principal, refusal
from berth_api.state import ApiState

COOKIE = "berth_session"
CSRF_HEADER = "x-berth-csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PRINCIPAL_KEY = "berth_principal"  # where the ASGI gate leaves what it authenticated


def state_of(request: Request) -> ApiState:
    state: ApiState = request.app.state.berth
    return state


State = Annotated[ApiState, Depends(state_of)]


def keychain_of(request: Request) -> Keychain:
    chain: Keychain = request.app.state.keychain
    return chain


Keys = Annotated[Keychain, Depends(keychain_of)]


def session_cookie(request: Request) -> str | None:
    """The session cookie of the request's scheme: ``__Host-berth_session`` over HTTPS,
    ``berth_session`` over plain HTTP (see :mod:`berth_api.edge.cookies`)."""
    return session_cookie_value(request.scope)


def needs_csrf(request: Request) -> bool:
    """A request signed in by cookie alone that changes something must carry the CSRF header
    (a cross-site form or image cannot send it)."""
    return request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != "1"


async def principal(request: Request) -> Principal:
    """The token behind a request: its Bearer token, else its session cookie (Unauthorized
    without either). A cookie alone authorises a change only with the CSRF header."""
    gate = request.scope.get("state", {}).get(PRINCIPAL_KEY)
    header = request.headers.get("authorization")
    cookie = session_cookie(request)
    if header or not cookie:
        return gate if isinstance(gate, Principal) else await authenticate(state_of(request).pool, header)
    found = gate if isinstance(gate, Principal) else await authenticate_session(state_of(request).pool, cookie)
    if needs_csrf(request):
        raise Forbidden(f"a request signed in by cookie that changes something needs the header {CSRF_HEADER}: 1")
    return found


async def _app_id(request: Request, ref: str | None) -> uuid.UUID | None:
    if ref is None:
        return None
    try:
        app_id: uuid.UUID = (await apps_store.find_app(state_of(request).pool, ref))["id"]
    except NotFound:
        return None
    return app_id


async def authorize(request: Request) -> Principal:
    """The principal, once its scope allows the route (403 ``forbidden`` otherwise). A route
    that was never placed in a scope is refused to everyone."""
    who = await principal(request)
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    need = need_of(request.method, path) if isinstance(path, str) else None
    if need is None:
        raise Forbidden(f"{request.method} {path or request.url.path} has no declared scope; nobody may call it")
    app_id = None
    if need.per_app and who.apps is not None:
        app_id = await _app_id(request, request.path_params.get("ref"))
    reason = refusal(who, need, dict(request.query_params), app_id)
    if reason is not None:
        raise Forbidden(reason)
    return who


# A handler that records who acted takes ``actor: Actor``; FastAPI computes it once per request.
Actor = Annotated[Principal, Depends(authorize)]
