"""Environment variables and secrets, end to end through `berth up`: values set over the API
roll out as config releases and reach the container (with PORT, BERTH_APP, BERTH_RELEASE,
BERTH_HOSTNAME); they are masked unless revealed (audited); they never rest in clear in
Postgres, the JetStream store or any log; the master key rotates; an undecryptable value fails
the deploy naming the key while the old release keeps serving."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from berth_api import envelope
from berth_testing import RunningPlatform, api_error, wait_for

pytestmark = pytest.mark.e2e

# Distinctive values that must never be found at rest.
SECRET = "sk_live_" + uuid.uuid4().hex + "_TOPSECRET"
SECRET_2 = "pw_" + uuid.uuid4().hex + "_ALSOSECRET"


# -- helpers ---------------------------------------------------------------------------------


def create(p: RunningPlatform, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    response = p.api.post("/api/apps", json={"name": name, "stopTimeoutSeconds": 2})
    assert response.status_code == 201, response.text
    return name


def release(p: RunningPlatform, app: str, release_id: str) -> dict[str, Any]:
    return dict(p.api.get(f"/api/apps/{app}/releases/{release_id}").json())


def wait_status(p: RunningPlatform, app: str, release_id: str, status: str, timeout: float = 90) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        r = release(p, app, release_id)
        if r["status"] in ("live", "failed") and r["status"] != status:
            raise AssertionError(f"release ended {r['status']}: {r.get('reason')}")
        return r if r["status"] == status else None

    return wait_for(reached, timeout=timeout, what=f"release {release_id} {status}")


def deploy_live(p: RunningPlatform, app: str, image: str) -> dict[str, Any]:
    response = p.api.post(f"/api/apps/{app}/deploy", json={"image": image})
    assert response.status_code == 202, response.text
    return wait_status(p, app, response.json()["id"], "live")


def set_env(p: RunningPlatform, app: str, vars: dict[str, str], unset: list[str] | None = None, **params: str) -> Any:
    response = p.api.post(f"/api/apps/{app}/env", json={"vars": vars, "unset": unset or []}, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def container_env(p: RunningPlatform, app: str) -> dict[str, str]:
    response = p.proxy_get(f"{app}.berth.test", "/cgi-bin/env")
    assert response.status_code == 200, response.text
    return dict(line.split("=", 1) for line in response.text.splitlines() if "=" in line)


def wait_env(p: RunningPlatform, app: str, predicate: Any, what: str) -> dict[str, str]:
    def matched() -> dict[str, str] | None:
        env = container_env(p, app)
        return env if predicate(env) else None

    return wait_for(matched, timeout=30, what=what)


def api_dsn(p: RunningPlatform) -> str:
    password = json.loads((p.home / "credentials.json").read_text())["db_passwords"]["api"]
    return f"postgresql://api:{password}@127.0.0.1:{p.env['BERTH_PG_PORT']}/berth"


def sql(p: RunningPlatform, query: str, *args: Any) -> list[asyncpg.Record]:
    """Run one query as the API's own database role."""

    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(api_dsn(p))
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    return asyncio.run(run())


def api_schema_dump(p: RunningPlatform) -> bytes:
    out = bytearray()
    for table in sql(p, "SELECT tablename FROM pg_tables WHERE schemaname = 'api'"):
        for row in sql(p, f'SELECT * FROM api."{table["tablename"]}"'):
            for value in row.values():
                out += bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode()
                out += b"\n"
    return bytes(out)


def files_containing(root: Path, needle: bytes) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if needle in data:
                hits.append(str(path))
    return hits


# -- the flow ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def env_app(platform: RunningPlatform, test_images: dict[str, str]) -> dict[str, Any]:
    """An app live on v1, then given two variables, rolled out as a config release."""
    name = create(platform, "envs")
    first = deploy_live(platform, name, test_images["v1"])
    result = set_env(platform, name, {"API_TOKEN": SECRET, "GREETING": "hello world"})
    assert result["changed"] == {"set": ["API_TOKEN", "GREETING"], "unset": []}
    rel = result["release"]
    assert rel["kind"] == "config" and rel["envChanges"] == {"set": ["API_TOKEN", "GREETING"], "unset": []}
    live = wait_status(platform, name, rel["id"], "live")
    return {"name": name, "first": first, "config": live}


def test_a_change_rolls_out_as_a_config_release_with_platform_variables(
    platform: RunningPlatform, env_app: dict[str, Any]
) -> None:
    name, config = env_app["name"], env_app["config"]
    env = wait_env(platform, name, lambda e: e.get("BERTH_RELEASE") == config["id"], "config release serving")
    assert env["API_TOKEN"] == SECRET and env["GREETING"] == "hello world"
    assert env["PORT"] == "8080" and env["BERTH_APP"] == name
    assert env["BERTH_HOSTNAME"] == f"{name}.berth.test"
    assert config["image"] == env_app["first"]["imageDigest"] or config["image"] == env_app["first"]["image"]
    releases = platform.api.get(f"/api/apps/{name}/releases").json()["items"]
    assert releases[0]["id"] == config["id"] and releases[0]["envChanges"]["set"] == ["API_TOKEN", "GREETING"]
    assert SECRET not in json.dumps(releases)


def test_values_are_masked_unless_revealed_and_reveals_are_audited(
    platform: RunningPlatform, env_app: dict[str, Any]
) -> None:
    name = env_app["name"]
    masked = platform.api.get(f"/api/apps/{name}/env").json()
    assert [i["key"] for i in masked["items"]] == ["API_TOKEN", "GREETING"]
    assert all(i["masked"] and i["value"] == "********" and i["createdAt"] and i["updatedAt"] for i in masked["items"])
    assert SECRET not in json.dumps(masked)

    revealed = platform.api.get(f"/api/apps/{name}/env", params={"reveal": "true"}).json()
    assert {i["key"]: i["value"] for i in revealed["items"]} == {"API_TOKEN": SECRET, "GREETING": "hello world"}

    audit = platform.api.get("/api/audit", params={"appId": name}).json()["items"]
    reveal = next(a for a in audit if a["action"] == "env.reveal")
    assert reveal["actor"] == "admin" and reveal["detail"] == {"keys": ["API_TOKEN", "GREETING"]} and reveal["at"]
    change = next(a for a in audit if a["action"] == "env.change")
    assert change["detail"]["set"] == ["API_TOKEN", "GREETING"] and change["actor"] == "admin"
    assert SECRET not in json.dumps(audit)


@pytest.mark.parametrize(
    ("vars", "unset", "named"),
    [
        ({"1BAD": "x"}, [], "vars.1BAD"),
        ({"HAS-DASH": "x"}, [], "vars.HAS-DASH"),
        ({"PORT": "1"}, [], "vars.PORT"),
        ({"BERTH_APP": "x"}, [], "vars.BERTH_APP"),
        ({"K" * 257: "x"}, [], "longer than 256"),
        ({"HUGE": SECRET * 1000}, [], "vars.HUGE"),
        ({}, ["BERTH_RELEASE"], "BERTH_RELEASE"),
    ],
)
def test_invalid_changes_are_refused_with_422_naming_the_key(
    platform: RunningPlatform, env_app: dict[str, Any], vars: dict[str, str], unset: list[str], named: str
) -> None:
    response = platform.api.post(f"/api/apps/{env_app['name']}/env", json={"vars": vars, "unset": unset})
    assert response.status_code == 422, response.text
    assert named in response.text
    assert SECRET not in response.text


def test_deploy_false_stores_for_the_next_deploy_and_unset_removes(
    platform: RunningPlatform, env_app: dict[str, Any], test_images: dict[str, str]
) -> None:
    name = env_app["name"]
    before = len(platform.api.get(f"/api/apps/{name}/releases").json()["items"])
    stored = set_env(platform, name, {"LATER": "next-time"}, deploy="false")
    assert stored["release"] is None and stored["changed"]["set"] == ["LATER"]
    assert len(platform.api.get(f"/api/apps/{name}/releases").json()["items"]) == before
    assert "LATER" not in container_env(platform, name)

    unset = set_env(platform, name, {}, ["GREETING"])
    assert unset["changed"] == {"set": [], "unset": ["GREETING"]}
    live = wait_status(platform, name, unset["release"]["id"], "live")
    env = wait_env(platform, name, lambda e: e.get("BERTH_RELEASE") == live["id"], "unset rolled out")
    assert "GREETING" not in env and env["LATER"] == "next-time" and env["API_TOKEN"] == SECRET


def test_rotation_re_encrypts_and_a_redeploy_still_gets_every_value(
    platform: RunningPlatform, env_app: dict[str, Any]
) -> None:
    name = env_app["name"]
    status = platform.api.get("/api/secrets/status").json()
    old = status["currentKeyId"]
    assert status["source"] == "file" and status["rotatable"] is True
    assert {r["key_id"] for r in sql(platform, "SELECT key_id FROM env_vars")} == {old}

    rotated = platform.api.post("/api/secrets/rotate-key")
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["status"] == "rotated" and body["retiredKeyIds"] == [old] and body["currentKeyId"] != old
    assert {r["key_id"] for r in sql(platform, "SELECT key_id FROM env_vars")} == {body["currentKeyId"]}
    assert all(
        envelope.key_id_of(bytes(r["ciphertext"])) == body["currentKeyId"]
        for r in sql(platform, "SELECT ciphertext FROM env_vars")
    )
    keyring_file = json.loads((platform.home / "master.key").read_text())
    assert keyring_file["current"] == body["currentKeyId"]
    retired = {k["id"]: k["retiredAt"] for k in keyring_file["keys"]}
    assert retired[old] is not None and retired[body["currentKeyId"]] is None
    assert (platform.home / "master.key").stat().st_mode & 0o077 == 0

    again = platform.api.post("/api/secrets/rotate-key", json={"resumeOnly": True}).json()
    assert again["status"] == "nothing-to-resume"

    restart = platform.api.post(f"/api/apps/{name}/restart")
    assert restart.status_code == 202, restart.text
    live = wait_status(platform, name, restart.json()["id"], "live")
    env = wait_env(platform, name, lambda e: e.get("BERTH_RELEASE") == live["id"], "restart after rotation")
    assert env["API_TOKEN"] == SECRET and env["LATER"] == "next-time"


def tamper(p: RunningPlatform, app_id: str, key: str, replacement: bytes | None = None) -> None:
    if replacement is None:
        (row,) = sql(p, "SELECT ciphertext FROM env_vars WHERE app_id = $1 AND name = $2", uuid.UUID(app_id), key)
        blob = bytearray(row["ciphertext"])
        blob[-5] ^= 0x40
        replacement = bytes(blob)
    sql(p, "UPDATE env_vars SET ciphertext = $3 WHERE app_id = $1 AND name = $2", uuid.UUID(app_id), key, replacement)


def test_an_undecryptable_value_fails_the_deploy_naming_the_key_and_the_old_release_keeps_serving(
    platform: RunningPlatform, test_images: dict[str, str]
) -> None:
    name = create(platform, "tamper")
    deploy_live(platform, name, test_images["v1"])
    first = set_env(platform, name, {"DB_PASSWORD": SECRET_2, "PLAIN": "p1"})
    good = wait_status(platform, name, first["release"]["id"], "live")
    app_id = good["appId"]
    wait_env(platform, name, lambda e: e.get("BERTH_RELEASE") == good["id"], "good release serving")

    # 1. A tampered row.
    tamper(platform, app_id, "DB_PASSWORD")
    attempt = set_env(platform, name, {"PLAIN": "p2"})
    failed = wait_status(platform, name, attempt["release"]["id"], "failed")
    assert failed["reason"].startswith("cannot decrypt env var DB_PASSWORD: authentication failed")
    app = platform.api.get(f"/api/apps/{name}").json()
    assert app["currentReleaseId"] == good["id"] and "DB_PASSWORD" in app["statusReason"]
    env = container_env(platform, name)
    assert env["BERTH_RELEASE"] == good["id"] and env["DB_PASSWORD"] == SECRET_2 and env["PLAIN"] == "p1"
    assert platform.proxy_get(f"{name}.berth.test").text == "v1\n"
    reveal = platform.api.get(f"/api/apps/{name}/env", params={"reveal": "true"})
    assert "DB_PASSWORD" in api_error(reveal, 409, "conflict")["message"] and SECRET_2 not in reveal.text
    assert [c for c in platform.containers(app_id) if c["State"]["Running"]], "old container still running"

    # Re-setting the value repairs the app.
    repaired = set_env(platform, name, {"DB_PASSWORD": SECRET_2})
    fixed = wait_status(platform, name, repaired["release"]["id"], "live")
    env = wait_env(platform, name, lambda e: e.get("BERTH_RELEASE") == fixed["id"], "repaired release serving")
    assert env["DB_PASSWORD"] == SECRET_2 and env["PLAIN"] == "p2"

    # 2. A value sealed under the right key id with the wrong key.
    current = platform.api.get("/api/secrets/status").json()["currentKeyId"]
    wrong = envelope.seal("whatever", current, os.urandom(32), app_id, "PLAIN")
    tamper(platform, app_id, "PLAIN", wrong)
    redeploy = platform.api.post(f"/api/apps/{name}/restart")
    assert redeploy.status_code == 202, redeploy.text
    failed = wait_status(platform, name, redeploy.json()["id"], "failed")
    assert failed["reason"].startswith(f"cannot decrypt env var PLAIN: authentication failed under key '{current}'")
    env = container_env(platform, name)
    assert env["BERTH_RELEASE"] == fixed["id"] and env["PLAIN"] == "p2"

    # Leave nothing broken behind (rotation covers every row).
    unset = set_env(platform, name, {}, ["PLAIN"])
    wait_status(platform, name, unset["release"]["id"], "live")


def test_plaintext_never_rests_in_postgres_jetstream_or_logs(
    platform: RunningPlatform, env_app: dict[str, Any]
) -> None:
    """Runs after every value above travelled to containers, was rotated and failed to decrypt."""
    for needle in (SECRET, SECRET_2):
        assert needle.encode() not in api_schema_dump(platform)
        assert files_containing(platform.home / "nats", needle.encode()) == []
        assert files_containing(platform.home / "logs", needle.encode()) == []
        assert files_containing(platform.home, needle.encode()) == []  # nowhere in $BERTH_HOME at all
