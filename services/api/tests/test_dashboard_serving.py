"""The dashboard's pieces in the API without a server: static files with the SPA fallback and
cache headers, and who may do what with a session cookie (CSRF header on mutations)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from berth_api import auth, deps, errors, static
from berth_shared.errors import Forbidden, Unauthorized
from fastapi import FastAPI
from starlette.requests import Request


def built(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir(parents=True)
    (tmp_path / "index.html").write_text("<!doctype html><div id=root></div>")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log(1)")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    return tmp_path


def client(root: Path) -> httpx.AsyncClient:
    app = FastAPI()
    errors.install(app)
    static.install(app, root)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://berth")


async def test_index_and_deep_links_get_the_app_revalidated_with_a_strict_csp(tmp_path: Path) -> None:
    c = client(built(tmp_path))
    for path in ("/", "/apps/hello/logs", "/signin"):
        r = await c.get(path)
        assert r.status_code == 200
        assert "id=root" in r.text
        assert r.headers["cache-control"] == "no-cache"
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY"


async def test_hashed_assets_are_cached_for_a_year_and_missing_ones_are_404(tmp_path: Path) -> None:
    c = client(built(tmp_path))
    r = await c.get("/assets/index-abc123.js")
    assert r.status_code == 200
    assert "immutable" in r.headers["cache-control"]
    assert (await c.get("/favicon.svg")).headers["cache-control"] == "no-cache"
    assert (await c.get("/assets/index-old999.js")).status_code == 404


async def test_unknown_api_paths_stay_json_404s_and_files_outside_dist_are_not_served(tmp_path: Path) -> None:
    root = built(tmp_path / "dist")
    (tmp_path / "secret.txt").write_text("nope")
    c = client(root)
    r = await c.get("/api/nope")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    assert "nope" not in (await c.get("/..%2Fsecret.txt")).text
    assert "nope" not in (await c.get("/%2e%2e/secret.txt")).text


async def test_without_a_build_the_root_says_how_to_build_it(tmp_path: Path) -> None:
    r = await client(tmp_path).get("/")
    assert r.status_code == 200
    assert "make up" in r.text


class FakePool:
    """Sessions by id hash, each joined to its token's row."""

    def __init__(self, sessions: dict[str, str]) -> None:
        self.sessions = sessions

    async def fetchrow(self, query: str, *args: Any) -> dict[str, Any] | None:
        if "FROM sessions" in query:
            name = self.sessions.get(args[0])
            return _token_row(name) if name else None
        return None  # no token matches


def _token_row(name: str) -> dict[str, Any]:
    import uuid
    from datetime import UTC, datetime

    return {
        "id": uuid.uuid4(),
        "name": name,
        "scope": "admin",
        "apps": None,
        "expires_at": None,
        "last_used_at": datetime.now(UTC),
    }


def request(method: str, pool: FakePool, headers: dict[str, str]) -> Request:
    class State:
        berth = type("S", (), {"pool": pool})()

    app = type("A", (), {"state": State()})()
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": method, "headers": raw, "app": app, "path": "/api/apps"})


async def test_a_session_cookie_reads_freely_but_mutates_only_with_the_csrf_header() -> None:
    pool = FakePool({auth.session_hash("sid"): "admin"})
    cookie = {"cookie": "berth_session=sid"}
    assert (await deps.principal(request("GET", pool, cookie))).name == "admin"
    with pytest.raises(Forbidden):
        await deps.principal(request("POST", pool, cookie))
    assert (await deps.principal(request("POST", pool, {**cookie, "X-Berth-CSRF": "1"}))).name == "admin"
    with pytest.raises(Unauthorized):
        await deps.principal(request("GET", pool, {"cookie": "berth_session=other"}))
    with pytest.raises(Unauthorized):
        await deps.principal(request("GET", pool, {}))
    # A Bearer header is checked as a token (here: unknown), whatever the cookie says.
    with pytest.raises(Unauthorized):
        await deps.principal(request("GET", pool, {**cookie, "Authorization": "Bearer x"}))


def test_session_ids_are_stored_only_as_hashes() -> None:
    assert auth.session_hash("sid") != "sid"
    assert len(auth.session_hash("sid")) == 64
