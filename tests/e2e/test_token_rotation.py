"""Rotating the admin token, on a platform of its own (it invalidates the token every other
test uses): `berth token rotate` prints a new token, the old one is refused, every dashboard
session ends (the sessions table is empty), the CLI's saved login and `$BERTH_HOME/admin-token`
hold the new value, and the audit log names the token that rotated."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from berth_testing import RunningPlatform, start_platform, stop_platform

pytestmark = pytest.mark.e2e

BERTH = str(Path(sys.executable).parent / "berth")


@pytest.fixture(scope="module")
def own_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    p = start_platform(tmp_path_factory.mktemp("berth-rotation"))
    try:
        yield p
    finally:
        stop_platform(p)


def berth(p: RunningPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a user on the platform host runs it, logged in with `berth login` (no BERTH_TOKEN)."""
    env = {k: v for k, v in os.environ.items() if k not in ("BERTH_TOKEN", "BERTH_URL")}
    full = {**env, "BERTH_HOME": str(p.home), "XDG_CONFIG_HOME": str(p.home / "cli-config")}
    return subprocess.run([BERTH, *args], env=full, capture_output=True, text=True, timeout=120)


def sessions(p: RunningPlatform) -> list[dict[str, Any]]:
    password = json.loads((p.home / "credentials.json").read_text())["db_passwords"]["api"]
    dsn = f"postgresql://api:{password}@127.0.0.1:{p.env['BERTH_PG_PORT']}/berth"

    async def fetch() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(dsn)
        try:
            return [dict(r) for r in await conn.fetch("SELECT * FROM sessions")]
        finally:
            await conn.close()

    return asyncio.run(fetch())


def sign_in(p: RunningPlatform, token: str) -> httpx.Client:
    browser = httpx.Client(base_url=p.base, timeout=30)
    response = browser.post("/api/session", json={"token": token}, headers={"X-Berth-CSRF": "1"})
    assert response.status_code == 201, response.text
    return browser


def status(p: RunningPlatform, token: str) -> int:
    return httpx.get(f"{p.base}/api/apps", headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code


def test_berth_token_rotate_replaces_the_admin_token_everywhere_and_ends_every_session(
    own_platform: RunningPlatform,
) -> None:
    p = own_platform
    old = p.token
    login = berth(p, "login", "--url", p.base, "--token", old)
    assert login.returncode == 0, login.stderr
    reader = p.api.post("/api/tokens", json={"name": "reader", "scope": "read"}).json()
    admin_browser, reader_browser = sign_in(p, old), sign_in(p, reader["token"])
    assert len(sessions(p)) == 2

    rotated = berth(p, "token", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert "Traceback" not in rotated.stderr
    new = rotated.stdout.strip()
    assert new.startswith("berth_") and new != old and "\n" not in new

    assert status(p, old) == 401
    assert status(p, new) == 200
    assert sessions(p) == []  # every session, the read token's too
    for browser in (admin_browser, reader_browser):
        assert browser.get("/api/apps").status_code == 401
        browser.close()
    assert status(p, reader["token"]) == 200  # other tokens keep working

    # The CLI's saved login and this host's admin-token file now hold the new value.
    config = json.loads((p.home / "cli-config" / "berth" / "config.json").read_text())
    assert config["token"] == new
    assert (p.home / "admin-token").read_text().strip() == new
    assert (p.home / "admin-token").stat().st_mode & 0o777 == 0o600
    listed = berth(p, "tokens", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {t["name"] for t in json.loads(listed.stdout)} == {"admin", "reader"}

    # The API route does the same for any admin-scope caller; the audit log names who rotated.
    with httpx.Client(base_url=p.base, headers={"Authorization": f"Bearer {new}"}, timeout=30) as admin:
        again = admin.post("/api/tokens/rotate")
        assert again.status_code == 200, again.text
        newest = again.json()["token"]
        assert again.json()["rotatedOwnToken"] is True
    assert status(p, new) == 401
    with httpx.Client(base_url=p.base, headers={"Authorization": f"Bearer {newest}"}, timeout=30) as admin:
        audit = admin.get("/api/audit", params={"action": "token.rotate"}).json()["items"]
        root = next(t for t in admin.get("/api/tokens").json()["items"] if t["root"])
    assert [(e["actor"], e["tokenId"]) for e in audit] == [("admin", root["id"])] * 2
    assert audit[-1]["detail"]["sessionsRevoked"] == 2
