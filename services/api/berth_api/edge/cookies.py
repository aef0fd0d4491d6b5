"""The dashboard's session cookie: over HTTPS ``__Host-berth_session`` (the browser then
insists on ``Secure``, ``Path=/`` and no ``Domain``, so an app on a subdomain cannot plant or
overwrite it), over plain HTTP (a developer machine) ``berth_session``. Always HttpOnly and
SameSite=Strict. Each scheme reads only its own name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PLAIN = "berth_session"
SECURE = "__Host-berth_session"


@dataclass(frozen=True)
class CookieSpec:
    name: str
    secure: bool
    path: str = "/"
    httponly: bool = True
    samesite: Literal["lax", "strict", "none"] = "strict"


def session_cookie(https: bool) -> CookieSpec:
    return CookieSpec(SECURE, secure=True) if https else CookieSpec(PLAIN, secure=False)
