"""The agent's desired-run query and its run reports, against real Postgres: the run's image,
argv and limits with the app's env sealed to the agent's key (never in clear); nothing for a run
that ended or an app that went; reports end a run once (ADR 0026 §5)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from berth_api import apps_store, env_store, keyring, run_repairs, runs_store
from berth_api.consumers import release_events, run_events
from berth_api.keyring import Keychain
from berth_api.responders import runs
from berth_api.validation import CreateApp
from berth_shared.contracts.agent import AgentApps, HeldApp
from berth_shared.contracts.base import encode
from berth_shared.contracts.releases import ReleaseLive
from berth_shared.contracts.runs import GetDesiredRun, RunFinished, RunStarted
from berth_shared.errors import ValidationFailed
from berth_shared.sealing import OpeningKey, open_env

pytestmark = pytest.mark.integration

AGENT_KEY = OpeningKey.generate()
SECRET = "sk_live_" + "Rn7" * 6


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Keychain:
    ring = keyring.new_file_keyring(tmp_path_factory.mktemp("keys") / "master.key")
    keyring.write_file(ring)
    return Keychain(keyring.read_file(ring.path))  # type: ignore[arg-type]


async def app_with_run(pool: asyncpg.Pool, infra: Any, chain: Keychain) -> tuple[asyncpg.Record, asyncpg.Record]:
    async with pool.acquire() as conn:
        app = await apps_store.create_app(
            conn, CreateApp(name=f"r{uuid.uuid4().hex[:10]}"), infra.settings.subnet_pool, "test"
        )
        _, rel = await apps_store.create_release(conn, str(app["id"]), "img:7", "deploy", "local")
        await release_events.apply(conn, ReleaseLive(app_id=str(app["id"]), release_id=str(rel["id"]), slot="a"))
        await env_store.change(
            conn, chain, str(app["id"]), {"TOKEN": SECRET}, [], deploy=False, actor="tester", host="local"
        )
        async with conn.transaction():
            run = await runs_store.create(
                conn,
                app_id=app["id"],
                release_id=rel["id"],
                host="local",
                command=["python", "manage.py", "shell"],
                attach=True,
                stdin=True,
                timeout_seconds=60,
                actor="tester",
            )
    return app, run


async def ask(pool: asyncpg.Pool, chain: Keychain, app_id: object, run_id: object, key: str | None = None) -> Any:
    query = GetDesiredRun(app_id=str(app_id), run_id=str(run_id), seal_to=key or AGENT_KEY.public)
    return (await runs.get(pool, encode(query), chain)).run


async def test_the_agent_gets_the_run_with_its_env_sealed_to_its_key(
    pool: asyncpg.Pool, infra: Any, chain: Keychain
) -> None:
    app, run = await app_with_run(pool, infra, chain)
    desired = await ask(pool, chain, app["id"], run["id"])
    assert desired is not None
    assert (desired.image, desired.command, desired.kind) == ("img:7", ["python", "manage.py", "shell"], "run")
    assert (desired.attach, desired.stdin, desired.timeout_seconds) == (True, True, 60)
    assert desired.resources.memory_mb == app["memory_mb"]
    assert desired.sealed_env is not None and SECRET not in desired.sealed_env
    assert open_env(desired.sealed_env, AGENT_KEY, str(app["id"]), desired.release_id) == {"TOKEN": SECRET}
    with pytest.raises(ValidationFailed):
        await ask(pool, chain, app["id"], run["id"], key="not-a-key")
    assert await ask(pool, chain, app["id"], uuid.uuid4()) is None


async def test_reports_end_a_run_once_and_an_ended_run_is_not_started_again(
    pool: asyncpg.Pool, infra: Any, chain: Keychain
) -> None:
    app, run = await app_with_run(pool, infra, chain)
    app_id, run_id = str(app["id"]), str(run["id"])
    async with pool.acquire() as conn:
        await run_events.apply(conn, RunStarted(app_id=app_id, run_id=run_id, container_id="c1"))
        finished = RunFinished(app_id=app_id, run_id=run_id, outcome="exited", exit_code=0, duration_ms=42)
        await run_events.apply(conn, finished)
        await run_events.apply(conn, finished)  # redelivered
        await run_events.apply(conn, RunFinished(app_id=app_id, run_id=run_id, outcome="lost"))  # too late
    row = await runs_store.get(pool, app["id"], run["id"])
    assert row is not None
    assert (row["status"], row["exit_code"], row["duration_ms"], row["container_id"]) == ("exited", 0, 42, "c1")
    assert await ask(pool, chain, app["id"], run["id"]) is None
    actions = await pool.fetch("SELECT action FROM audit_log WHERE app_id = $1 AND action LIKE 'run.%'", app["id"])
    assert sorted(a["action"] for a in actions) == ["run.finished", "run.started"]


async def test_an_old_run_the_agent_holds_no_container_of_is_lost(
    pool: asyncpg.Pool, infra: Any, chain: Keychain
) -> None:
    app, run = await app_with_run(pool, infra, chain)
    await pool.execute("UPDATE runs SET created_at = now() - interval '5 minutes' WHERE id = $1", run["id"])
    async with pool.acquire() as conn:
        unfinished = [u for u in await runs_store.unfinished_all(conn) if u.run_id == str(run["id"])]
    held = AgentApps(host="local", apps=[HeldApp(app_id=str(app["id"]))])
    for lost in run_repairs.lost_runs(unfinished, held):
        async with pool.acquire() as conn, conn.transaction():
            await runs_store.finished(conn, lost, held.at)
    row = await runs_store.get(pool, app["id"], run["id"])
    assert row is not None and row["status"] == "lost" and "no container" in row["reason"]
