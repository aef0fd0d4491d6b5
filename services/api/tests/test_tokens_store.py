"""A new token's settings are checked field by field before anything is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from berth_api.scopes import Scope
from berth_api.tokens_store import creation_problems

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def fields(scope: Scope, apps: list[str] | None = None, expires: datetime | None = None) -> list[str]:
    return [p.field for p in creation_problems(scope, apps, expires, NOW)]


def test_only_deploy_tokens_are_limited_to_apps() -> None:
    assert fields(Scope.DEPLOY, ["shop"]) == []
    assert fields(Scope.READ, ["shop"]) == ["apps"]
    assert fields(Scope.ADMIN, ["shop"]) == ["apps"]
    assert fields(Scope.DEPLOY, []) == ["apps"]


def test_expiry_must_be_in_the_future() -> None:
    assert fields(Scope.READ, expires=NOW + timedelta(days=30)) == []
    assert fields(Scope.READ, expires=NOW) == ["expiresAt"]
    assert fields(Scope.READ, expires=NOW - timedelta(seconds=1)) == ["expiresAt"]
