"""Every route is placed in a scope, and the scope decision is what the README's table says."""

from __future__ import annotations

import uuid

from berth_api.app import create_app
from berth_api.route_scopes import ROUTE_SCOPES, need_of
from berth_api.scopes import ADMIN, DEPLOY_APP, READ, Principal, Scope, refusal

X, Y = uuid.uuid4(), uuid.uuid4()


def api_routes() -> set[tuple[str, str]]:
    schema = create_app(None).openapi()  # type: ignore[arg-type]
    return {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops}


def who(scope: Scope, apps: frozenset[uuid.UUID] | None = None) -> Principal:
    return Principal(token_id=uuid.uuid4(), name=f"{scope}-token", scope=scope, apps=apps)


def test_every_api_route_has_a_declared_scope() -> None:
    unplaced = sorted(r for r in api_routes() if r not in ROUTE_SCOPES)
    assert unplaced == [], f"place these routes in berth_api.route_scopes.ROUTE_SCOPES: {unplaced}"


def test_the_table_names_only_routes_that_exist() -> None:
    assert sorted(set(ROUTE_SCOPES) - api_routes()) == []


def test_an_unplaced_route_has_no_need_and_head_is_get() -> None:
    assert need_of("POST", "/api/some-new-thing") is None
    assert need_of("HEAD", "/api/apps") == READ


def test_read_reads_but_never_reveals_or_changes() -> None:
    read = who(Scope.READ)
    assert refusal(read, need_of("GET", "/api/apps/{ref}/env"), {}, None) is None
    assert refusal(read, need_of("GET", "/api/apps/{ref}/env"), {"reveal": "true"}, None) is not None
    assert refusal(read, need_of("GET", "/api/apps/{ref}/env"), {"reveal": "false"}, None) is None
    for method, path in [
        ("POST", "/api/apps/{ref}/env"),
        ("POST", "/api/apps/{ref}/deploy"),
        ("POST", "/api/tokens"),
        ("GET", "/api/audit"),
    ]:
        assert refusal(read, need_of(method, path), {}, X) is not None, (method, path)


def test_a_deploy_token_for_listed_apps_deploys_only_those() -> None:
    limited = who(Scope.DEPLOY, frozenset({X}))
    assert refusal(limited, DEPLOY_APP, {}, X) is None
    assert "listed apps" in str(refusal(limited, DEPLOY_APP, {}, Y))
    assert refusal(limited, DEPLOY_APP, {}, None) is not None  # an app that does not exist
    assert refusal(limited, READ, {}, Y) is None  # reads are not limited
    assert refusal(limited, need_of("POST", "/api/apps/{ref}/env"), {}, X) is not None
    assert refusal(who(Scope.DEPLOY), DEPLOY_APP, {}, Y) is None  # unlimited: every app


def test_admin_may_do_everything() -> None:
    admin = who(Scope.ADMIN)
    for (method, path), need in ROUTE_SCOPES.items():
        assert refusal(admin, need, {"reveal": "1"}, None) is None, (method, path)
    assert refusal(admin, ADMIN, {}, None) is None


def test_a_refusal_names_the_token_and_the_scope_needed() -> None:
    message = refusal(who(Scope.READ), ADMIN, {}, None)
    assert message == "token 'read-token' has scope read; this needs admin"


def test_a_deploy_token_sets_formations_and_scales_and_a_read_token_only_reads_them() -> None:
    read, deploy = who(Scope.READ), who(Scope.DEPLOY, frozenset({X}))
    for method, path in [("PUT", "/api/apps/{ref}/formation"), ("PATCH", "/api/apps/{ref}/processes/{name}")]:
        assert refusal(deploy, need_of(method, path), {}, X) is None, (method, path)
        assert refusal(deploy, need_of(method, path), {}, Y) is not None, (method, path)
        assert refusal(read, need_of(method, path), {}, X) is not None, (method, path)
    for path in ("/api/apps/{ref}/formation", "/api/apps/{ref}/processes"):
        assert refusal(read, need_of("GET", path), {}, X) is None, path
