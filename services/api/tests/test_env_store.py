"""Env vars against real Postgres: atomic changes, config releases, audit, the deploy-time
decryption that fails loudly, and resumable key rotation. Values never rest in clear."""

from __future__ import annotations

import base64
import json
import os
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from berth_api import apps_store, env_store, keyring, rotation
from berth_api.consumers import release_events
from berth_api.keyring import Keychain
from berth_api.responders import desired
from berth_api.validation import CreateApp
from berth_shared.contracts.base import encode
from berth_shared.contracts.desired import GetDesired, ListDesired
from berth_shared.contracts.releases import ReleaseLive
from berth_shared.errors import Conflict, ValidationFailed
from berth_shared.sealing import OpeningKey, SealingError, open_env

AGENT_KEY = OpeningKey.generate()  # plays the runtime agent's key pair

pytestmark = pytest.mark.integration

SECRET = "sk_live_" + "Zq9" * 6  # a value that must never appear at rest


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Keychain:
    ring = keyring.new_file_keyring(tmp_path_factory.mktemp("keys") / "master.key")
    keyring.write_file(ring)
    return Keychain(keyring.read_file(ring.path))  # type: ignore[arg-type]


async def new_app(pool: asyncpg.Pool, infra: Any) -> asyncpg.Record:
    async with pool.acquire() as conn:
        return await apps_store.create_app(
            conn, CreateApp(name=f"e{uuid.uuid4().hex[:10]}"), infra.settings.subnet_pool, "test"
        )


async def live_app(pool: asyncpg.Pool, infra: Any, image: str = "img:1") -> asyncpg.Record:
    app = await new_app(pool, infra)
    async with pool.acquire() as conn:
        _, rel = await apps_store.create_release(conn, str(app["id"]), image, "deploy", "local")
        await release_events.apply(conn, ReleaseLive(app_id=str(app["id"]), release_id=str(rel["id"]), slot="a"))
    row = await pool.fetchrow("SELECT * FROM apps WHERE id = $1", app["id"])
    assert row is not None and row["current_release_id"] == rel["id"]
    return row


async def change(
    pool: asyncpg.Pool,
    chain: Keychain,
    app: asyncpg.Record,
    vars: dict[str, str],
    unset: list[str] | None = None,
    *,
    deploy: bool = True,
) -> tuple[asyncpg.Record, asyncpg.Record | None, env_store.Changes]:
    async with pool.acquire() as conn:
        return await env_store.change(
            conn, chain, str(app["id"]), vars, unset or [], deploy=deploy, actor="tester", host="local"
        )


async def get_desired(pool: asyncpg.Pool, chain: Keychain, app: asyncpg.Record) -> Any:
    """The reply as the agent sees it: the sealed environment opened with its key into ``env``."""
    reply = await desired.get(pool, encode(GetDesired(app_id=str(app["id"]), seal_to=AGENT_KEY.public)), "test", chain)
    if reply.app is not None and reply.app.release is not None:
        release = reply.app.release
        assert release.env == {}, "the API must never send env values in clear"
        assert release.sealed_env is not None
        release.env = open_env(release.sealed_env, AGENT_KEY, reply.app.app_id, release.release_id)
    return reply


async def dump_schema(pool: asyncpg.Pool) -> bytes:
    """Every row of every table in the api schema, as text and raw bytes."""
    out = b""
    tables = await pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'api'")
    for t in tables:
        for row in await pool.fetch(f'SELECT * FROM api."{t["tablename"]}"'):
            for value in row.values():
                out += bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode()
                out += b"\n"
    return out


async def test_set_is_sealed_audited_and_rolls_out_a_config_release(
    pool: asyncpg.Pool, chain: Keychain, infra: Any
) -> None:
    app = await live_app(pool, infra)
    _, release, changes = await change(pool, chain, app, {"STRIPE_KEY": SECRET, "MODE": "prod"})
    assert changes.as_json() == {"set": ["MODE", "STRIPE_KEY"], "unset": []}
    assert release is not None and release["kind"] == "config" and release["image"] == "img:1"
    assert json.loads(release["env_changes"]) == {"set": ["MODE", "STRIPE_KEY"], "unset": []}

    rows = await pool.fetch("SELECT * FROM env_vars WHERE app_id = $1", app["id"])
    assert {r["key_id"] for r in rows} == {chain.ring.current}
    assert all(SECRET.encode() not in bytes(r["ciphertext"]) for r in rows)
    assert SECRET.encode() not in await dump_schema(pool)

    audit = await pool.fetchrow(
        "SELECT * FROM audit_log WHERE app_id = $1 AND action = 'env.change' ORDER BY id DESC LIMIT 1", app["id"]
    )
    assert audit["actor"] == "tester"
    assert json.loads(audit["detail"]) == {
        "set": ["MODE", "STRIPE_KEY"],
        "unset": [],
        "deploy": True,
        "releaseVersion": release["version"],
    }

    reply = await get_desired(pool, chain, app)
    assert reply.app.release.release_id == str(release["id"])
    assert reply.app.release.env == {"STRIPE_KEY": SECRET, "MODE": "prod"}


async def test_the_reply_carries_env_only_sealed_to_the_asking_agent(
    pool: asyncpg.Pool, chain: Keychain, infra: Any
) -> None:
    app = await live_app(pool, infra)
    await change(pool, chain, app, {"STRIPE_KEY": SECRET})
    raw = await desired.get(pool, encode(GetDesired(app_id=str(app["id"]), seal_to=AGENT_KEY.public)), "test", chain)
    assert raw.app is not None and raw.app.release is not None
    assert SECRET.encode() not in encode(raw)
    sealed, release_id = raw.app.release.sealed_env, raw.app.release.release_id
    assert sealed is not None
    with pytest.raises(SealingError):  # a listener holding another key (any other identity)
        open_env(sealed, OpeningKey.generate(), str(app["id"]), release_id)
    listed = await desired.list_all(pool, encode(ListDesired(host="local", seal_to=AGENT_KEY.public)), "test", chain)
    assert SECRET.encode() not in encode(listed)
    assert str(app["id"]) in {a.app_id for a in listed.apps}


@pytest.mark.parametrize("seal_to", [None, "", "not-a-key"])
async def test_a_query_without_the_agents_key_gets_no_state(
    pool: asyncpg.Pool, chain: Keychain, infra: Any, seal_to: str | None
) -> None:
    app = await live_app(pool, infra)
    await change(pool, chain, app, {"STRIPE_KEY": SECRET})
    with pytest.raises(ValidationFailed) as caught:
        await desired.get(pool, encode(GetDesired(app_id=str(app["id"]), seal_to=seal_to)), "test", chain)
    assert caught.value.details[0].field == "seal_to"
    with pytest.raises(ValidationFailed):
        await desired.list_all(pool, encode(ListDesired(host="local", seal_to=seal_to)), "test", chain)


async def test_unchanged_values_make_no_release_and_unset_removes(
    pool: asyncpg.Pool, chain: Keychain, infra: Any
) -> None:
    app = await live_app(pool, infra)
    await change(pool, chain, app, {"A": "1", "B": "2"})
    _, release, changes = await change(pool, chain, app, {"A": "1"}, ["NOT_THERE"])
    assert not changes and release is None
    _, release, changes = await change(pool, chain, app, {"A": "one"}, ["B"])
    assert changes.as_json() == {"set": ["A"], "unset": ["B"]}
    assert release is not None and json.loads(release["env_changes"]) == {"set": ["A"], "unset": ["B"]}
    assert (await get_desired(pool, chain, app)).app.release.env == {"A": "one"}


async def test_deploy_false_and_apps_never_deployed_only_store(pool: asyncpg.Pool, chain: Keychain, infra: Any) -> None:
    app = await live_app(pool, infra)
    before = await pool.fetchval("SELECT count(*) FROM releases WHERE app_id = $1", app["id"])
    _, release, changes = await change(pool, chain, app, {"LATER": "x"}, deploy=False)
    assert changes and release is None
    assert await pool.fetchval("SELECT count(*) FROM releases WHERE app_id = $1", app["id"]) == before

    fresh = await new_app(pool, infra)
    _, release, _ = await change(pool, chain, fresh, {"X": "1"})
    assert release is None
    async with pool.acquire() as conn:
        _, rel = await apps_store.create_release(conn, str(fresh["id"]), "img:2", "deploy", "local")
    reply = await get_desired(pool, chain, fresh)
    assert reply.app.release.release_id == str(rel["id"]) and reply.app.release.env == {"X": "1"}


async def test_at_most_500_per_app_naming_the_key(pool: asyncpg.Pool, chain: Keychain, infra: Any) -> None:
    app = await new_app(pool, infra)
    await change(pool, chain, app, {f"K{i:03d}": "v" for i in range(500)})
    with pytest.raises(ValidationFailed, match=r"vars\.ONE_TOO_MANY") as info:
        await change(pool, chain, app, {"ONE_TOO_MANY": "v"})
    assert info.value.details[0].field == "vars.ONE_TOO_MANY"
    await change(pool, chain, app, {"SWAP": "v"}, ["K000"])  # replacing one keeps it at 500
    assert await pool.fetchval("SELECT count(*) FROM env_vars WHERE app_id = $1", app["id"]) == 500


async def test_reveal_is_audited_with_keys_only(pool: asyncpg.Pool, chain: Keychain, infra: Any) -> None:
    app = await new_app(pool, infra)
    await change(pool, chain, app, {"TOKEN": SECRET})
    async with pool.acquire() as conn:
        _, rows, values = await env_store.reveal(conn, chain.ring, app["name"], "alice")
    assert values == {"TOKEN": SECRET} and [r["name"] for r in rows] == ["TOKEN"]
    audit = await pool.fetchrow(
        "SELECT * FROM audit_log WHERE app_id = $1 AND action = 'env.reveal' ORDER BY id DESC LIMIT 1", app["id"]
    )
    assert audit["actor"] == "alice" and json.loads(audit["detail"]) == {"keys": ["TOKEN"]}


async def tamper(pool: asyncpg.Pool, app: asyncpg.Record, name: str) -> None:
    blob = bytearray(
        await pool.fetchval("SELECT ciphertext FROM env_vars WHERE app_id = $1 AND name = $2", app["id"], name)
    )
    blob[-1] ^= 0x01
    await pool.execute(
        "UPDATE env_vars SET ciphertext = $3 WHERE app_id = $1 AND name = $2", app["id"], name, bytes(blob)
    )


async def test_tampered_value_fails_the_release_naming_the_key_and_withholds_the_app(
    pool: asyncpg.Pool, chain: Keychain, infra: Any
) -> None:
    app = await live_app(pool, infra)
    live_id = app["current_release_id"]
    _, release, _ = await change(pool, chain, app, {"DB_PASSWORD": SECRET, "OTHER": "fine"})
    await tamper(pool, app, "DB_PASSWORD")

    with pytest.raises(env_store.Withheld, match="withheld"):
        await get_desired(pool, chain, app)
    failed = await pool.fetchrow("SELECT * FROM releases WHERE id = $1", release["id"])
    assert failed["status"] == "failed"
    assert failed["reason"].startswith("cannot decrypt env var DB_PASSWORD: authentication failed")
    assert SECRET not in failed["reason"]
    after = await pool.fetchrow("SELECT * FROM apps WHERE id = $1", app["id"])
    assert after["desired_release_id"] == live_id and after["current_release_id"] == live_id
    assert "DB_PASSWORD" in after["status_reason"]
    # Listing never carries an app it cannot describe in full.
    listed = await desired.list_all(pool, encode(ListDesired(host="local", seal_to=AGENT_KEY.public)), "test", chain)
    assert str(app["id"]) not in {a.app_id for a in listed.apps}

    # Re-setting the value repairs it: the next config release carries the full environment.
    _, release, changes = await change(pool, chain, app, {"DB_PASSWORD": "new"})
    assert changes.set == ["DB_PASSWORD"]
    assert (await get_desired(pool, chain, app)).app.release.env == {"DB_PASSWORD": "new", "OTHER": "fine"}


async def test_undecryptable_before_any_live_release_sends_no_release(
    pool: asyncpg.Pool, chain: Keychain, infra: Any
) -> None:
    app = await new_app(pool, infra)
    await change(pool, chain, app, {"K": "v"})
    other_key = Keychain(keyring.from_env_key(base64.b64encode(os.urandom(32)).decode()))
    async with pool.acquire() as conn:
        _, rel = await apps_store.create_release(conn, str(app["id"]), "img:1", "deploy", "local")
    reply = await get_desired(pool, other_key, app)  # the wrong key
    assert reply.app is not None and reply.app.release is None
    failed = await pool.fetchrow("SELECT * FROM releases WHERE id = $1", rel["id"])
    assert failed["status"] == "failed" and failed["reason"].startswith("cannot decrypt env var K: sealed with key")


async def forget_foreign_rows(pool: asyncpg.Pool, chain: Keychain) -> None:
    """Other test modules share this schema; rotation covers every row, so keep only ours."""
    await pool.execute("DELETE FROM env_vars WHERE NOT (key_id = ANY($1::text[]))", list(chain.ring.by_id()))


async def test_rotation_re_seals_everything_and_retires_the_old_key(
    pool: asyncpg.Pool, chain: Keychain, infra: Any
) -> None:
    await forget_foreign_rows(pool, chain)
    app = await live_app(pool, infra)
    await change(pool, chain, app, {f"V{i}": f"value-{i}" for i in range(250)})  # more than one batch
    old = chain.ring.current
    result = await rotation.rotate(pool, chain, "admin")
    assert result["status"] == "rotated" and result["retiredKeyIds"] == [old]
    assert result["rewritten"] >= 250 and "re-encrypted" in result["message"]
    new = chain.ring.current
    assert new != old
    assert await pool.fetchval("SELECT count(*) FROM env_vars WHERE key_id <> $1", new) == 0
    on_disk = keyring.read_file(chain.ring.path)  # type: ignore[arg-type]
    assert on_disk.current == new and old not in on_disk.by_id() and on_disk.pending_old() == []
    env = (await get_desired(pool, chain, app)).app.release.env
    assert env["V0"] == "value-0" and len(env) == 250

    again = await rotation.rotate(pool, chain, "admin", resume_only=True)
    assert again["status"] == "nothing-to-resume"
    status = await rotation.status(pool, chain)
    assert status["currentKeyId"] == new and status["rotationPending"] is False
    assert status["valuesByKeyId"] == {new: await pool.fetchval("SELECT count(*) FROM env_vars")}
    materials = [base64.b64encode(k.material).decode() for k in on_disk.keys]
    assert not any(m in json.dumps(status) for m in materials)  # key ids and counts, never keys
    audit = await pool.fetchrow("SELECT * FROM audit_log WHERE action = 'secrets.rotate_key' ORDER BY id DESC LIMIT 1")
    assert json.loads(audit["detail"])["retiredKeyIds"] == [old]


async def test_interrupted_rotation_resumes_without_a_new_key(pool: asyncpg.Pool, chain: Keychain, infra: Any) -> None:
    await forget_foreign_rows(pool, chain)
    app = await live_app(pool, infra)
    await change(pool, chain, app, {"A": "alpha", "B": "beta", "C": "gamma"})
    old = chain.ring.current
    # Interrupted after step 1 and part of step 2: the file names a new current key, one row moved.
    ring = keyring.with_new_current(keyring.read_file(chain.ring.path))  # type: ignore[arg-type]
    keyring.write_file(ring)
    chain.ring = ring

    row = await pool.fetchrow("SELECT * FROM env_vars WHERE app_id = $1 AND name = 'A'", app["id"])
    from berth_api import envelope

    plain = envelope.open(bytes(row["ciphertext"]), ring.by_id(), str(app["id"]), "A")
    await pool.execute(
        "UPDATE env_vars SET key_id = $3, ciphertext = $4 WHERE app_id = $1 AND name = $2",
        app["id"],
        "A",
        ring.current,
        envelope.seal(plain, ring.current, ring.current_key, str(app["id"]), "A"),
    )
    assert (await rotation.status(pool, chain))["rotationPending"] is True
    # Meanwhile deploys still get every value: the old key still decrypts.
    assert (await get_desired(pool, chain, app)).app.release.env == {"A": "alpha", "B": "beta", "C": "gamma"}

    result = await rotation.rotate(pool, chain, "admin")
    assert result["status"] == "resumed" and result["currentKeyId"] == ring.current  # no third key
    assert result["retiredKeyIds"] == [old]
    assert await pool.fetchval("SELECT count(*) FROM env_vars WHERE key_id <> $1", ring.current) == 0
    assert (await get_desired(pool, chain, app)).app.release.env == {"A": "alpha", "B": "beta", "C": "gamma"}


async def test_rotation_stops_on_an_undecryptable_row_and_keeps_the_old_key(
    pool: asyncpg.Pool, chain: Keychain, infra: Any
) -> None:
    await forget_foreign_rows(pool, chain)
    app = await live_app(pool, infra)
    await change(pool, chain, app, {"GOOD": "g", "BROKEN": SECRET})
    await tamper(pool, app, "BROKEN")
    old = chain.ring.current
    with pytest.raises(env_store.UndecryptableEnv, match="cannot decrypt env var BROKEN") as info:
        await rotation.rotate(pool, chain, "admin")
    assert SECRET not in str(info.value)
    assert old in keyring.read_file(chain.ring.path).by_id()  # type: ignore[arg-type]
    await change(pool, chain, app, {}, ["BROKEN"])
    result = await rotation.rotate(pool, chain, "admin")
    assert result["status"] == "resumed" and old in result["retiredKeyIds"]


async def test_an_environment_managed_key_cannot_be_rotated(pool: asyncpg.Pool) -> None:
    env_chain = Keychain(keyring.from_env_key(base64.b64encode(os.urandom(32)).decode()))
    with pytest.raises(Conflict, match="BERTH_MASTER_KEY"):
        await rotation.rotate(pool, env_chain, "admin")
    assert (await rotation.status(pool, env_chain))["rotatable"] is False


def test_keyring_file_path_is_private(chain: Keychain) -> None:
    assert isinstance(chain.ring.path, Path)
    assert chain.ring.path.stat().st_mode & 0o077 == 0
