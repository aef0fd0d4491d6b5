"""The runs and cron routes in process, against real Postgres and NATS (the agent played by a NATS
client with the agent's identity): a run starts only with a live release and a deploy token, an
attached run's output reaches the client from the start even when it connects late, stdin
reaches the agent, and "run now" follows the job's policy (ADR 0026 §4-5)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
from berth_api import apps_store, tokens_store
from berth_api.app import create_app
from berth_api.consumers import release_events, run_events
from berth_api.cron import store
from berth_api.scopes import Principal, Scope
from berth_api.state import ApiState
from berth_api.validation import CreateApp
from berth_shared import bus
from berth_shared.contracts.base import decode, encode
from berth_shared.contracts.processes import CronJob, Formation
from berth_shared.contracts.releases import ReleaseLive
from berth_shared.contracts.runs import (
    RunFinished,
    RunInput,
    RunOutput,
    RunStarted,
    run_input_subject,
    run_output_subject,
)
from berth_shared.service import ServiceEnv
from nats.aio.client import Client

pytestmark = pytest.mark.integration

ROOT = Principal(token_id=uuid.uuid4(), name="tester", scope=Scope.ADMIN)


async def connect(infra: Any, who: str) -> Client:
    env = ServiceEnv.from_env(infra.service_env(who))
    return await bus.connect(env.nats_url, env.nats_user, env.nats_password, name=f"test-as-{who}")


@pytest.fixture
async def api(pool: asyncpg.Pool, infra: Any) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient, Client]]:
    """A client with a deploy token, one with a read token, and the agent's bus connection."""
    nc, agent = await connect(infra, "api"), await connect(infra, "runtime-agent")
    tokens = []
    async with pool.acquire() as conn:
        for scope in (Scope.DEPLOY, Scope.READ):
            _, value = await tokens_store.create(conn, f"t{uuid.uuid4().hex[:8]}", scope, None, None, actor=ROOT)
            tokens.append(value)
    app = create_app(ApiState(pool=pool, nc=nc, settings=infra.settings))
    transport = httpx.ASGITransport(app=app)
    clients = [
        httpx.AsyncClient(transport=transport, base_url="http://api", headers={"Authorization": f"Bearer {t}"})
        for t in tokens
    ]
    try:
        yield clients[0], clients[1], agent
    finally:
        for c in clients:
            await c.aclose()
        await nc.close()
        await agent.close()


async def new_app(pool: asyncpg.Pool, infra: Any, *, live: bool = True, cron: list[CronJob] | None = None) -> str:
    async with pool.acquire() as conn:
        app = await apps_store.create_app(
            conn, CreateApp(name=f"u{uuid.uuid4().hex[:10]}"), infra.settings.subnet_pool, "test"
        )
        if live:
            _, rel = await apps_store.create_release(conn, str(app["id"]), "img:1", "deploy", "local")
            formation = msgspec.json.encode(Formation(cron=cron or [])).decode()
            await conn.execute("UPDATE releases SET formation = $2::jsonb WHERE id = $1", rel["id"], formation)
            await release_events.apply(conn, ReleaseLive(app_id=str(app["id"]), release_id=str(rel["id"]), slot="a"))
    await store.sync(pool, datetime.now(UTC))
    return str(app["name"])


async def test_a_run_needs_a_live_release_a_command_and_a_deploy_token(
    pool: asyncpg.Pool, infra: Any, api: Any
) -> None:
    deploy, read, _ = api
    name = await new_app(pool, infra, live=False)
    assert (await deploy.post(f"/api/apps/{name}/runs", json={"command": "echo hi"})).status_code == 409
    name = await new_app(pool, infra)
    assert (await read.post(f"/api/apps/{name}/runs", json={"command": "echo hi"})).status_code == 403
    bad = await deploy.post(f"/api/apps/{name}/runs", json={"command": "echo 'unbalanced"})
    assert bad.status_code == 422 and "command" in bad.text
    started = await deploy.post(f"/api/apps/{name}/runs", json={"command": "echo 'hello world'"})
    assert started.status_code == 202
    run = started.json()
    assert (run["command"], run["status"], run["kind"]) == (["echo", "hello world"], "pending", "run")
    listed = (await read.get(f"/api/apps/{name}/runs")).json()["items"]
    assert [r["id"] for r in listed] == [run["id"]]
    stop = await deploy.post(f"/api/apps/{name}/runs/{run['id']}/stop")
    assert stop.status_code == 202
    assert (await read.get(f"/api/apps/{name}/runs/{uuid.uuid4()}")).status_code == 404


async def test_an_attached_runs_output_reaches_a_late_client_from_the_start_and_stdin_reaches_the_agent(
    pool: asyncpg.Pool, infra: Any, api: Any
) -> None:
    deploy, read, agent = api
    name = await new_app(pool, infra)
    run = (await deploy.post(f"/api/apps/{name}/runs", json={"command": ["cat"], "attach": True, "stdin": True})).json()
    app_id, run_id = run["appId"], run["id"]
    got: asyncio.Queue[RunInput] = asyncio.Queue()

    async def on_input(msg: Any) -> None:
        await got.put(decode(msg.data, RunInput))

    await agent.subscribe(run_input_subject(app_id, run_id), cb=on_input)
    await agent.flush()
    sent = await deploy.post(f"/api/apps/{name}/runs/{run_id}/stdin", content=b"ping\n")
    assert sent.status_code == 202
    async with asyncio.timeout(10):
        assert (await got.get()).data == b"ping\n"
    # the agent writes output before any client reads it
    out = run_output_subject(app_id, run_id)
    await agent.publish(out, encode(RunOutput(run_id=run_id, seq=0, data=b"ping\n")))
    await agent.publish(out, encode(RunOutput(run_id=run_id, seq=1, stream="stderr", data=b"warn\n")))
    await agent.flush()
    async with pool.acquire() as conn:
        finish = RunFinished(app_id=app_id, run_id=run_id, outcome="exited", exit_code=0)
        await run_events.apply(conn, finish)
    await agent.publish(out, encode(RunOutput(run_id=run_id, seq=2, eof=True, exit_code=0)))
    await agent.flush()
    async with asyncio.timeout(10):
        body = (await read.get(f"/api/apps/{name}/runs/{run_id}/output")).text
    events = [block for block in body.split("\n\n") if block.startswith(("id:", "event:"))]
    assert 'event: output\ndata: {"seq":0,"stream":"stdout","data":"ping\\n"}' in events[0]
    assert '"stream":"stderr","data":"warn\\n"' in events[1]
    assert events[2] == 'event: exit\ndata: {"exitCode":0,"outcome":"exited"}'
    resumed = (await read.get(f"/api/apps/{name}/runs/{run_id}/output?after=0")).text
    assert '"seq":0' not in resumed and '"seq":1' in resumed


async def test_cron_lists_jobs_with_their_next_run_and_run_now_follows_the_policy(
    pool: asyncpg.Pool, infra: Any, api: Any
) -> None:
    deploy, read, _ = api
    name = await new_app(pool, infra, cron=[CronJob(name="report", schedule="@daily", command=["report"])])
    jobs = (await read.get(f"/api/apps/{name}/cron")).json()["items"]
    assert [(j["name"], j["concurrency"], j["lastRun"]) for j in jobs] == [("report", "forbid", None)]
    assert jobs[0]["nextRunAt"].endswith("T00:00:00Z")
    first = await deploy.post(f"/api/apps/{name}/cron/report/runs")
    assert first.status_code == 202 and first.json()["trigger"] == "manual"
    held = await deploy.post(f"/api/apps/{name}/cron/report/runs")
    assert held.status_code == 409 and "forbid" in held.text
    history = (await read.get(f"/api/apps/{name}/cron/report/runs")).json()["items"]
    assert [r["id"] for r in history] == [first.json()["id"]]
    last = (await read.get(f"/api/apps/{name}/cron")).json()["items"][0]["lastRun"]
    assert (last["id"], last["status"], last["startedAt"], last["dueAt"]) == (first.json()["id"], "pending", None, None)


async def test_a_run_that_never_started_ends_its_output_stream_with_the_reason(
    pool: asyncpg.Pool, infra: Any, api: Any
) -> None:
    deploy, read, _ = api
    name = await new_app(pool, infra)
    run = (await deploy.post(f"/api/apps/{name}/runs", json={"command": ["true"], "attach": True})).json()
    async with pool.acquire() as conn:
        failed = RunFinished(app_id=run["appId"], run_id=run["id"], outcome="failed_to_start", reason="no free address")
        await run_events.apply(conn, failed)
    async with asyncio.timeout(10):  # no eof from the agent: the stream sees the row end
        body = (await read.get(f"/api/apps/{name}/runs/{run['id']}/output")).text
    assert body.rstrip().endswith('event: exit\ndata: {"exitCode":null,"outcome":"failed_to_start"}')
    assert (await read.get(f"/api/apps/{name}/runs/{run['id']}")).json()["reason"] == "no free address"


async def test_a_finished_run_reads_back_by_its_id_and_the_audit_log_says_who_ran_what_and_how_it_ended(
    pool: asyncpg.Pool, infra: Any
) -> None:
    nc = await connect(infra, "api")
    names = {scope: f"{scope.value}-{uuid.uuid4().hex[:8]}" for scope in (Scope.DEPLOY, Scope.ADMIN)}
    values = {}
    async with pool.acquire() as conn:
        for scope, token_name in names.items():
            _, values[scope] = await tokens_store.create(conn, token_name, scope, None, None, actor=ROOT)
    transport = httpx.ASGITransport(app=create_app(ApiState(pool=pool, nc=nc, settings=infra.settings)))

    def client(scope: Scope) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {values[scope]}"}
        return httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers)

    async with client(Scope.DEPLOY) as deploy, client(Scope.ADMIN) as admin:
        name = await new_app(pool, infra)
        started = await deploy.post(f"/api/apps/{name}/runs", json={"command": "python manage.py check --deploy"})
        assert started.status_code == 202, started.text
        app_id, run_id = started.json()["appId"], started.json()["id"]
        async with pool.acquire() as conn:
            await run_events.apply(conn, RunStarted(app_id=app_id, run_id=run_id, container_id="c-run"))
            ended = RunFinished(
                app_id=app_id, run_id=run_id, outcome="exited", exit_code=4, duration_ms=1234, last_lines=["no"]
            )
            await run_events.apply(conn, ended)

        run = (await deploy.get(f"/api/apps/{name}/runs/{run_id}")).json()
        assert (run["status"], run["exitCode"], run["durationMs"], run["lastLines"]) == ("exited", 4, 1234, ["no"])
        assert run["command"] == ["python", "manage.py", "check", "--deploy"] and run["kind"] == "run"
        assert run["actor"] == names[Scope.DEPLOY] and run["startedAt"] and run["finishedAt"]

        audit = (await admin.get("/api/audit", params={"appId": app_id})).json()["items"]
        entries = {e["action"]: e for e in audit if e["action"].startswith("run.")}
        assert entries["run.started"]["actor"] == names[Scope.DEPLOY]  # who
        assert entries["run.started"]["tokenId"] is not None
        assert entries["run.started"]["detail"]["argv"] == ["python", "manage.py", "check", "--deploy"]  # what
        assert entries["run.finished"]["detail"]["run"] == run_id
        assert entries["run.finished"]["detail"]["exitCode"] == 4  # how it ended
    await nc.close()
