"""Named API tokens with scopes, through `berth up`: what a read or deploy token cannot do
(403 `forbidden`), expiry and revocation (401, and the dashboard session made from a revoked
token dies), audit entries naming the token, and values never stored in clear."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from berth_testing import RunningPlatform, api_error, wait_for

pytestmark = pytest.mark.e2e


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def make_token(p: RunningPlatform, scope: str, **extra: Any) -> dict[str, Any]:
    response = p.api.post("/api/tokens", json={"name": unique(scope), "scope": scope, **extra})
    assert response.status_code == 201, response.text
    return dict(response.json())


def client(p: RunningPlatform, token: str) -> httpx.Client:
    return httpx.Client(base_url=p.base, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def create_app(p: RunningPlatform, prefix: str) -> str:
    name = unique(prefix)
    response = p.api.post("/api/apps", json={"name": name, "stopTimeoutSeconds": 1})
    assert response.status_code == 201, response.text
    return name


def forbidden(response: httpx.Response) -> str:
    assert response.status_code == 403, (response.request.method, response.request.url, response.text)
    error = response.json()["error"]
    assert error["code"] == "forbidden", error
    return str(error["message"])


def wait_live(p: RunningPlatform, app: str, release_id: str) -> None:
    def live() -> bool:
        release = p.api.get(f"/api/apps/{app}/releases/{release_id}").json()
        assert release["status"] != "failed", release
        return bool(release["status"] == "live")

    wait_for(live, timeout=120, what=f"{app} release {release_id} live")


def api_rows(p: RunningPlatform, query: str, *args: Any) -> list[dict[str, Any]]:
    password = json.loads((p.home / "credentials.json").read_text())["db_passwords"]["api"]
    dsn = f"postgresql://api:{password}@127.0.0.1:{p.env['BERTH_PG_PORT']}/berth"

    async def fetch() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(dsn, server_settings={"search_path": "api"})
        try:
            return [dict(r) for r in await conn.fetch(query, *args)]
        finally:
            await conn.close()

    return asyncio.run(fetch())


def test_a_read_token_reads_but_cannot_reveal_change_deploy_or_make_tokens(platform: RunningPlatform) -> None:
    p = platform
    app = create_app(p, "readonly")
    assert p.api.post(f"/api/apps/{app}/env", json={"vars": {"API_KEY": "sk_reader_must_not_see"}}).status_code == 200
    made = make_token(p, "read")
    assert made["token"].startswith("berth_") and made["scope"] == "read"

    with client(p, made["token"]) as reader:
        assert app in [a["name"] for a in reader.get("/api/apps").json()["items"]]
        masked = reader.get(f"/api/apps/{app}/env")
        assert masked.status_code == 200 and "sk_reader_must_not_see" not in masked.text
        message = forbidden(reader.get(f"/api/apps/{app}/env", params={"reveal": "true"}))
        assert made["name"] in message and "admin" in message
        forbidden(reader.post(f"/api/apps/{app}/env", json={"vars": {"API_KEY": "changed"}}))
        forbidden(reader.post(f"/api/apps/{app}/deploy", json={"image": "berth-test/web:v1"}))
        forbidden(reader.post("/api/tokens", json={"name": unique("escalate"), "scope": "admin"}))
        forbidden(reader.post("/api/tokens/rotate"))
        forbidden(reader.get("/api/tokens"))
        forbidden(reader.delete(f"/api/apps/{app}"))
    # Nothing it tried happened.
    assert p.api.get(f"/api/apps/{app}/releases").json()["items"] == []
    revealed = p.api.get(f"/api/apps/{app}/env", params={"reveal": "true"}).json()["items"]
    assert [(v["key"], v["value"]) for v in revealed] == [("API_KEY", "sk_reader_must_not_see")]
    assert made["name"] not in [t["name"] for t in p.api.get("/api/tokens").json()["items"] if t["scope"] == "admin"]


def test_a_deploy_token_for_one_app_deploys_restarts_and_rolls_it_back_only(
    platform: RunningPlatform, test_images: dict[str, str]
) -> None:
    p = platform
    mine, other = create_app(p, "mine"), create_app(p, "other")
    first = p.api.post(f"/api/apps/{mine}/deploy", json={"image": test_images["v1"]}).json()
    wait_live(p, mine, first["id"])
    made = make_token(p, "deploy", apps=[mine])
    assert made["apps"] == [mine]

    with client(p, made["token"]) as ci:
        deployed = ci.post(f"/api/apps/{mine}/deploy", json={"image": test_images["v2"]})
        assert deployed.status_code == 202, deployed.text
        wait_live(p, mine, deployed.json()["id"])
        restarted = ci.post(f"/api/apps/{mine}/restart")
        assert restarted.status_code == 202, restarted.text
        wait_live(p, mine, restarted.json()["id"])
        rolled = ci.post(f"/api/apps/{mine}/rollback")
        assert rolled.status_code == 202, rolled.text
        wait_live(p, mine, rolled.json()["id"])
        assert p.proxy_get(f"{mine}.berth.test").text == "v1\n"

        assert "listed apps" in forbidden(ci.post(f"/api/apps/{other}/deploy", json={"image": test_images["v1"]}))
        forbidden(ci.post(f"/api/apps/{other}/restart"))
        forbidden(ci.post(f"/api/apps/{other}/rollback"))
        forbidden(ci.post(f"/api/apps/{mine}/env", json={"vars": {"X": "1"}}))
        forbidden(ci.post(f"/api/apps/{mine}/domains", json={"hostname": f"{mine}.example.com"}))
        assert ci.get(f"/api/apps/{other}/releases").status_code == 200  # reads are not limited
    assert p.api.get(f"/api/apps/{other}/releases").json()["items"] == []

    # Every action's audit entry names the token: its name as the actor, and its id.
    entries = p.api.get("/api/audit", params={"appId": mine}).json()["items"]
    by_token = {e["action"] for e in entries if e["actor"] == made["name"] and e["tokenId"] == made["id"]}
    assert {"release.deploy", "release.restart", "release.rollback"} <= by_token, entries
    create = next(e for e in entries if e["action"] == "app.create")
    assert create["actor"] == "admin" and create["tokenId"] is not None


def test_an_expired_token_is_refused(platform: RunningPlatform) -> None:
    p = platform
    soon = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    made = make_token(p, "read", expiresAt=soon)
    with client(p, made["token"]) as short:
        assert short.get("/api/apps").status_code == 200
        refused = wait_for(
            lambda: (r := short.get("/api/apps")).status_code == 401 and r, timeout=30, what="the token to expire"
        )
    assert refused.json()["error"]["code"] == "unauthorized"
    assert "expired" in refused.json()["error"]["message"]
    listed = next(t for t in p.api.get("/api/tokens").json()["items"] if t["id"] == made["id"])
    assert listed["expired"] is True and listed["lastUsedAt"] is not None


def test_a_revoked_token_is_refused_and_its_dashboard_session_dies(platform: RunningPlatform) -> None:
    p = platform
    app = create_app(p, "revoke")
    made = make_token(p, "read")
    with httpx.Client(base_url=p.base, timeout=30) as browser:
        signed = browser.post("/api/session", json={"token": made["token"]}, headers={"X-Berth-CSRF": "1"})
        assert signed.status_code == 201, signed.text
        assert browser.get("/api/session").json() == {
            "signedIn": True,
            "actor": made["name"],
            "scope": "read",
            "domain": "berth.test",
        }
        assert browser.get("/api/apps").status_code == 200
        # The session has the token's scope, not more.
        forbidden(browser.get(f"/api/apps/{app}/env", params={"reveal": "true"}))

        revoked = p.api.delete(f"/api/tokens/{made['id']}")
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["sessionsRevoked"] == 1

        assert browser.get("/api/session").json()["signedIn"] is False
        api_error(browser.get("/api/apps"), 401, "unauthorized")
    with client(p, made["token"]) as gone:
        api_error(gone.get("/api/apps"), 401, "unauthorized")
    assert made["id"] not in [t["id"] for t in p.api.get("/api/tokens").json()["items"]]
    assert api_rows(p, "SELECT * FROM sessions WHERE actor = $1", made["name"]) == []


def test_token_values_are_shown_once_and_stored_only_as_hashes(platform: RunningPlatform) -> None:
    p = platform
    made = make_token(p, "deploy")
    listed = p.api.get("/api/tokens").json()["items"]
    assert made["token"] not in json.dumps(listed)
    assert all("token" not in t and "tokenHash" not in t for t in listed)
    root = [t for t in listed if t["root"]]
    assert [(t["name"], t["scope"]) for t in root] == [("admin", "admin")]

    rows = api_rows(p, "SELECT * FROM tokens")
    dump = json.dumps(rows, default=str)
    assert made["token"] not in dump and p.token not in dump
    row = next(r for r in rows if str(r["id"]) == made["id"])
    assert row["token_hash"] == hashlib.sha256(made["token"].encode()).hexdigest()

    # A dashboard session made from it: the sessions table holds hashes of the cookie and of
    # the token, never either value.
    with httpx.Client(base_url=p.base, timeout=30) as browser:
        signed = browser.post("/api/session", json={"token": made["token"]}, headers={"X-Berth-CSRF": "1"})
        assert signed.status_code == 201, signed.text
        cookie = browser.cookies["berth_session"]
    sessions = api_rows(p, "SELECT * FROM sessions WHERE actor = $1", made["name"])
    dump = json.dumps(sessions, default=str)
    assert cookie not in dump and made["token"] not in dump
    assert [(r["id_hash"], r["token_hash"]) for r in sessions] == [
        (hashlib.sha256(cookie.encode()).hexdigest(), row["token_hash"])
    ]


def test_token_settings_are_validated_by_field(platform: RunningPlatform) -> None:
    p = platform

    def invalid(body: dict[str, Any]) -> list[str]:
        response = p.api.post("/api/tokens", json=body)
        assert response.status_code == 422, response.text
        return [d["field"] for d in response.json()["error"]["details"]]

    assert invalid({"name": unique("r"), "scope": "read", "apps": ["x"]}) == ["apps"]
    assert invalid({"name": unique("d"), "scope": "deploy", "apps": [unique("nosuchapp")]}) == ["apps[0]"]
    assert invalid({"name": unique("p"), "scope": "read", "expiresAt": "2001-01-01T00:00:00Z"}) == ["expiresAt"]
    assert invalid({"name": "has space", "scope": "read"}) == ["name"]
    assert invalid({"name": unique("s"), "scope": "owner"}) == ["scope"]
    taken = make_token(p, "read")
    again = p.api.post("/api/tokens", json={"name": taken["name"], "scope": "read"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    root = next(t for t in p.api.get("/api/tokens").json()["items"] if t["root"])
    refused = p.api.delete(f"/api/tokens/{root['id']}")
    assert refused.status_code == 409 and "rotate" in refused.json()["error"]["message"]
