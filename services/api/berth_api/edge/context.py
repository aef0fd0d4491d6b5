"""What the edge leaves in the ASGI scope for the routes: who the caller is (address, HTTPS),
and through it which session cookie name this request may be read from."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Scope

from berth_api.edge import cookies
from berth_api.edge.client import UNKNOWN, Caller

CALLER_KEY = "berth_caller"


def caller_of(scope: Scope) -> Caller:
    """The caller the edge named for this request (the peer and scheme when it did not run)."""
    found = scope.get("state", {}).get(CALLER_KEY)
    if isinstance(found, Caller):
        return found
    peer = scope.get("client")
    return Caller(peer[0] if peer else UNKNOWN, scope.get("scheme") == "https")


def session_cookie_spec(scope: Scope) -> cookies.CookieSpec:
    return cookies.session_cookie(caller_of(scope).https)


def session_cookie_value(scope: Scope) -> str | None:
    """The session cookie of the caller's scheme (``__Host-`` over HTTPS); the other is ignored."""
    return Request(scope).cookies.get(session_cookie_spec(scope).name)
