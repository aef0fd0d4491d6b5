"""Per request, before anything reads its body: must it be authenticated, and how large may
its body be. Pure decisions on the method and path.

Every ``/api`` path needs a token (or a session) except the dashboard's sign-in, which checks
the token in its small body itself, and the endpoints that authenticate themselves (none yet;
later provider webhooks and Git, each with a small cap). The schema (``/api/openapi.json``)
is an ``/api`` path like any other. Bodies are capped at 1 MiB (JSON); the build upload keeps
its own streamed limit (``MAX_CONTEXT_BYTES``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

KIB = 1024
MIB = 1024 * KIB

JSON_CAP = 1 * MIB
SIGN_IN_CAP = 16 * KIB
SELF_AUTHENTICATING_CAP = 64 * KIB


class Auth(Enum):
    REQUIRED = "required"  # a token or session before the route runs, else 401
    OPTIONAL = "optional"  # checked when credentials are sent (failures count), never refused for lack of them
    NONE = "none"  # the route decides (static files, /healthz, the sign-in with the token in its body)


@dataclass(frozen=True)
class Policy:
    auth: Auth
    body_cap: int | None  # bytes; None: the route enforces its own streamed limit
    route_checks_token: bool = False  # the route answers 401 for a wrong token itself (counted as a failure)


OPEN = Policy(Auth.NONE, JSON_CAP)
PROTECTED = Policy(Auth.REQUIRED, JSON_CAP)
SIGN_IN = Policy(Auth.NONE, SIGN_IN_CAP, route_checks_token=True)
WHO_AM_I = Policy(Auth.OPTIONAL, SIGN_IN_CAP)
SIGN_OUT = Policy(Auth.NONE, SIGN_IN_CAP)  # forgets only the session its own cookie names
BUILD_UPLOAD = Policy(Auth.REQUIRED, None)
SELF_AUTHENTICATED = Policy(Auth.NONE, SELF_AUTHENTICATING_CAP)

_EXACT: dict[tuple[str, str], Policy] = {
    ("POST", "/api/session"): SIGN_IN,
    ("GET", "/api/session"): WHO_AM_I,
    ("HEAD", "/api/session"): WHO_AM_I,
    ("DELETE", "/api/session"): SIGN_OUT,
}
_PATTERNS: tuple[tuple[str, re.Pattern[str], Policy], ...] = (
    ("POST", re.compile(r"/api/apps/[^/]+/builds"), BUILD_UPLOAD),
)
# Endpoints that authenticate the request themselves (a signature over the body, Git's own
# auth), reachable without a token: (method, full-path pattern). None yet.
SELF_AUTHENTICATING: tuple[tuple[str, re.Pattern[str]], ...] = ()


def is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


def policy(method: str, path: str) -> Policy:
    """The policy of a request to ``path`` (percent-decoded, as the router matches it)."""
    method = method.upper()
    if not is_api(path):
        return OPEN
    exact = _EXACT.get((method, path.rstrip("/") or "/"))
    if exact is not None:
        return exact
    for verb, pattern, chosen in _PATTERNS:
        if method == verb and pattern.fullmatch(path):
            return chosen
    for verb, pattern in SELF_AUTHENTICATING:
        if method == verb and pattern.fullmatch(path):
            return SELF_AUTHENTICATED
    return PROTECTED


def has_credentials(authorization: str | None, session_cookie: str | None) -> bool:
    """Whether a request tries to authenticate at all. One without (a browser's first visit,
    a Git client's first request) gets 401 but is not a failed authentication."""
    return bool(authorization) or bool(session_cookie)


def over_cap(content_length: str | None, cap: int | None) -> bool:
    """Whether the declared length already exceeds the cap (answered before reading)."""
    if cap is None or content_length is None:
        return False
    try:
        return int(content_length) > cap
    except ValueError:
        return False


def cap_message(cap: int) -> str:
    size = f"{cap // MIB} MiB" if cap % MIB == 0 else f"{cap // KIB} KiB"
    return f"request body larger than {size}"
