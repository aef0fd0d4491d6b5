"""Token scopes and the decision whether a principal may take an action (pure: no I/O).

Three scopes, each including the one before it:

- ``read``: every read, never a secret value (no ``env?reveal=true``);
- ``deploy``: read, plus deploying, restarting, rolling back, building and changing how an
  app's process runs (settings, health check) — of the token's listed apps, or of all apps;
- ``admin``: everything.

Which scope each route needs is declared in :mod:`berth_api.route_scopes`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Scope(StrEnum):
    READ = "read"
    DEPLOY = "deploy"
    ADMIN = "admin"


RANK = {Scope.READ: 0, Scope.DEPLOY: 1, Scope.ADMIN: 2}


@dataclass(frozen=True)
class Principal:
    """Who is making a request: the token behind it (directly, or through a session cookie)."""

    token_id: uuid.UUID
    name: str
    scope: Scope
    apps: frozenset[uuid.UUID] | None = None  # deploy tokens may be limited to apps; None: all
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Need:
    """What a route asks of the caller. ``scope=None``: the route authenticates itself (or needs
    nothing). ``per_app``: the path's ``{ref}`` must be one of a limited token's apps.
    ``admin_if``: a query flag that, when true, makes the action admin-only."""

    scope: Scope | None
    per_app: bool = False
    admin_if: str | None = None


PUBLIC = Need(None)
READ = Need(Scope.READ)
DEPLOY_APP = Need(Scope.DEPLOY, per_app=True)
ADMIN = Need(Scope.ADMIN)

TRUE_VALUES = frozenset({"1", "true", "yes", "on"})


def effective_scope(need: Need, query: dict[str, str]) -> Scope | None:
    """The scope the request needs once its query is known (``env?reveal=true`` → admin)."""
    if need.admin_if and query.get(need.admin_if, "").lower() in TRUE_VALUES:
        return Scope.ADMIN
    return need.scope


def refusal(principal: Principal, need: Need, query: dict[str, str], app_id: uuid.UUID | None) -> str | None:
    """Why ``principal`` may not do this (the 403 message), or None when it may. ``app_id`` is
    the app the path names (None when it names none, or no such app exists)."""
    scope = effective_scope(need, query)
    if scope is None:
        return None
    if RANK[principal.scope] < RANK[scope]:
        return f"token {principal.name!r} has scope {principal.scope}; this needs {scope}"
    limited = need.per_app and principal.scope == Scope.DEPLOY and principal.apps is not None
    if limited and (app_id is None or app_id not in (principal.apps or ())):
        return f"token {principal.name!r} may deploy only its listed apps"
    return None
