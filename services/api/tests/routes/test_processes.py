"""An app's formation and its processes over HTTP (real Postgres): PUT formation records it on a
new release, deploys and restarts carry it over, rollbacks restore it, a scale stores a count and
asks the agent to reconcile, and what the agent is told to run (ADR 0026 §1)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from berth_api import apps_store, builds, releases_store
from berth_api.app import create_app
from berth_api.app_config import parse
from berth_api.responders import desired
from berth_api.routes import processes
from berth_api.scopes import Principal, Scope
from berth_api.state import ApiState
from berth_api.tokens_store import create as create_token
from berth_api.validation import CreateApp
from berth_shared.contracts.builds import BuildSpec
from berth_shared.contracts.releases import ReleaseLive
from berth_shared.errors import ValidationFailed

pytestmark = pytest.mark.integration

ADMIN = Principal(token_id=uuid.uuid4(), name="test-admin", scope=Scope.ADMIN)
FORMATION = {
    "processes": {"web": {"command": "gunicorn app:app", "count": 2}, "worker": "python worker.py"},
    "releaseCommand": "python manage.py migrate",
    "cron": [{"name": "nightly", "schedule": "0 3 * * *", "command": "python report.py"}],
}


class Api:
    def __init__(self, client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
        self.client, self.tokens = client, tokens

    async def call(self, method: str, path: str, *, token: str = "deploy", body: Any = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[token]}"}
        return await self.client.request(method, path, headers=headers, json=body)


@pytest.fixture(scope="module")
async def tokens(pool: asyncpg.Pool) -> dict[str, str]:
    values = {}
    for scope in (Scope.READ, Scope.DEPLOY):
        async with pool.acquire() as conn:
            _, values[str(scope)] = await create_token(
                conn, f"{scope}-{uuid.uuid4().hex[:6]}", scope, None, None, actor=ADMIN
            )
    return values


@pytest.fixture
async def api(
    pool: asyncpg.Pool, infra: Any, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Api]:
    async def engine_up(nc: Any, host: str) -> None:
        return None

    # No agent runs here: the engine check (an RPC to the agent) is what the e2e tests cover.
    monkeypatch.setattr(processes, "require_engine", engine_up)
    app = create_app(ApiState(pool=pool, nc=None, settings=infra.settings))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield Api(client, tokens)


async def live_app(pool: asyncpg.Pool, infra: Any, image: str = "img:1") -> tuple[asyncpg.Record, asyncpg.Record]:
    async with pool.acquire() as conn:
        app = await apps_store.create_app(conn, CreateApp(name=f"p{uuid.uuid4().hex[:10]}"), infra.settings.subnet_pool,
                                          "test")  # fmt: skip
        release = await deploy(pool, app, image)
    return app, release


async def deploy(pool: asyncpg.Pool, app: asyncpg.Record, image: str, kind: str = "deploy") -> asyncpg.Record:
    async with pool.acquire() as conn:
        _, release = await apps_store.create_release(conn, str(app["id"]), image, kind, "local")
    await go_live(pool, app, release)
    return release


async def go_live(pool: asyncpg.Pool, app: asyncpg.Record, release: asyncpg.Record | dict[str, Any]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await releases_store.go_live(conn, ReleaseLive(app_id=str(app["id"]), release_id=str(release["id"]), slot="a"))


async def told_to_run(pool: asyncpg.Pool, app: asyncpg.Record, release_id: str) -> Any:
    """What the agent would be told (``DesiredRelease``) for ``release_id``."""
    app_row = await pool.fetchrow("SELECT * FROM apps WHERE id = $1", app["id"])
    release = await pool.fetchrow("SELECT * FROM releases WHERE id = $1", uuid.UUID(release_id))
    state = desired.desired_app(app_row, release, "test")
    assert state.release is not None
    return state.release


def fields(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    return [d["field"] for d in response.json()["error"]["details"]]


async def test_put_formation_rolls_out_a_release_that_records_it(pool: asyncpg.Pool, infra: Any, api: Api) -> None:
    app, first = await live_app(pool, infra)
    assert (await told_to_run(pool, app, str(first["id"]))).processes == []  # one web from the CMD, as before

    response = await api.call("PUT", f"/api/apps/{app['name']}/formation", body=FORMATION)
    assert response.status_code == 202, response.text
    release = response.json()
    assert release["kind"] == "config" and release["image"] == "img:1"
    assert release["formation"]["processes"]["worker"] == {
        "command": ["python", "worker.py"], "count": 1, "memoryMb": None, "cpus": None
    }  # fmt: skip
    assert release["formation"]["releaseCommand"] == {
        "command": ["python", "manage.py", "migrate"],
        "timeoutSeconds": 300,
    }
    assert release["formation"]["cron"][0]["schedule"] == "0 3 * * *"

    run = await told_to_run(pool, app, release["id"])
    assert [(p.name, p.command, p.count) for p in run.processes] == [
        ("web", ["gunicorn", "app:app"], 2),
        ("worker", ["python", "worker.py"], 1),
    ]
    assert run.release_command is not None and run.release_command.command == ["python", "manage.py", "migrate"]
    await go_live(pool, app, release)

    # A deploy of a new image keeps everything; a restart runs no release command.
    second = await deploy(pool, app, "img:2")
    assert (await told_to_run(pool, app, str(second["id"]))).processes == run.processes
    assert (await told_to_run(pool, app, str(second["id"]))).release_command == run.release_command
    restart = await deploy(pool, app, "img:2", kind="restart")
    assert (await told_to_run(pool, app, str(restart["id"]))).release_command is None

    # Only the stated section changes: null clears the release command, processes carry over.
    response = await api.call("PUT", f"/api/apps/{app['id']}/formation", body={"releaseCommand": None})
    assert response.status_code == 202, response.text
    assert response.json()["formation"]["releaseCommand"] is None
    assert list(response.json()["formation"]["processes"]) == ["web", "worker"]

    got = await api.call("GET", f"/api/apps/{app['name']}/formation", token="read")
    assert got.status_code == 200 and got.json()["formation"] == response.json()["formation"]


async def test_a_rollback_returns_to_the_release_formation(pool: asyncpg.Pool, infra: Any, api: Api) -> None:
    app, first = await live_app(pool, infra, "img:1")
    response = await api.call("PUT", f"/api/apps/{app['name']}/formation", body=FORMATION)
    await go_live(pool, app, response.json())
    second = await deploy(pool, app, "img:2")
    assert (await pool.fetchval("SELECT formation FROM releases WHERE id = $1", second["id"])) is not None
    async with pool.acquire() as conn:
        back = await apps_store.rollback(conn, app["name"], str(first["id"]), "local")
    assert back["formation"] is None
    assert (await told_to_run(pool, app, str(back["id"]))).processes == []


async def test_invalid_formations_are_refused_naming_each_field(pool: asyncpg.Pool, infra: Any, api: Api) -> None:
    app, _ = await live_app(pool, infra)
    path = f"/api/apps/{app['name']}/formation"
    bad_job = {"name": "nightly", "schedule": "61 * * * *", "command": "x", "concurrency": "sometimes"}
    assert sorted(fields(await api.call("PUT", path, body={"cron": [bad_job]}))) == [
        "cron[0].concurrency",
        "cron[0].schedule",
    ]
    bad = {"processes": {"worker": {"count": 11, "memoryMb": 8}, "run": "x"}, "releaseCommand": {"timeoutSeconds": 5}}
    assert sorted(fields(await api.call("PUT", path, body=bad))) == [
        "processes.run",
        "processes.worker.command",
        "processes.worker.count",
        "processes.worker.memoryMb",
        "releaseCommand.command",
    ]
    assert fields(await api.call("PUT", path, body={"process": {}})) == ["process"]
    assert fields(await api.call("PUT", path, body={})) == ["body"]
    too_many = {"processes": {"web": {"count": 3}, "worker": {"command": "w", "count": 3}}}
    response = await api.call("PUT", path, body=too_many)
    assert fields(response) == ["processes"]
    assert "addresses" in response.json()["error"]["message"] or "instances" in response.json()["error"]["message"]
    # nothing was created by the refusals
    assert await pool.fetchval("SELECT count(*) FROM releases WHERE app_id = $1", app["id"]) == 1


async def test_put_formation_before_a_deploy_is_409(pool: asyncpg.Pool, infra: Any, api: Api) -> None:
    async with pool.acquire() as conn:
        app = await apps_store.create_app(conn, CreateApp(name=f"p{uuid.uuid4().hex[:10]}"), infra.settings.subnet_pool,
                                          "test")  # fmt: skip
    response = await api.call("PUT", f"/api/apps/{app['name']}/formation", body=FORMATION)
    assert response.status_code == 409 and "deploy an image first" in response.text


async def test_a_scale_stores_the_count_and_asks_the_agent_to_reconcile(
    pool: asyncpg.Pool, infra: Any, api: Api
) -> None:
    app, _ = await live_app(pool, infra)
    put = await api.call("PUT", f"/api/apps/{app['name']}/formation", body=FORMATION)
    await go_live(pool, app, put.json())
    path = f"/api/apps/{app['name']}/processes"
    before_outbox = await pool.fetchval("SELECT coalesce(max(id), 0) FROM outbox")

    response = await api.call("PATCH", f"{path}/worker", body={"count": 3})
    assert response.status_code == 200, response.text
    assert [(p["name"], p["count"], p["scaled"], p["routed"]) for p in response.json()["items"]] == [
        ("web", 2, False, True),
        ("worker", 3, True, False),
    ]
    sent = await pool.fetch("SELECT subject FROM outbox WHERE id > $1", before_outbox)
    assert [r["subject"] for r in sent] == ["berth.cmd.agent.local.reconcile"]
    assert await pool.fetchval("SELECT count(*) FROM releases WHERE app_id = $1", app["id"]) == 2  # no release
    run = await told_to_run(pool, app, put.json()["id"])
    assert [(p.name, p.count) for p in run.processes] == [("web", 2), ("worker", 3)]

    # A read token reads, and may not scale; a deploy token may.
    listed = await api.call("GET", path, token="read")
    assert listed.status_code == 200 and listed.json()["items"] == response.json()["items"]
    assert (await api.call("PATCH", f"{path}/worker", token="read", body={"count": 1})).status_code == 403

    assert (await api.call("PATCH", f"{path}/beat", body={"count": 1})).status_code == 404
    assert fields(await api.call("PATCH", f"{path}/worker", body={"count": 11})) == ["count"]
    assert fields(await api.call("PATCH", f"{path}/worker", body={"count": True})) == ["count"]
    # web 2 + worker 4 = 6 instances: their rollout would not fit the app's /28
    response = await api.call("PATCH", f"{path}/worker", body={"count": 4})
    assert fields(response) == ["count"]

    # The next release folds the counts in and clears them.
    third = await deploy(pool, app, "img:2")
    assert (await pool.fetchval("SELECT process_counts FROM apps WHERE id = $1", app["id"])) == "{}"
    assert [(p.name, p.count) for p in (await told_to_run(pool, app, str(third["id"]))).processes] == [
        ("web", 2),
        ("worker", 3),
    ]


BERTH_TOML = """
release = "python manage.py migrate"
[processes]
web = { command = "gunicorn app:app", count = 2 }
worker = { command = "python worker.py", memory_mb = 256 }
"""


async def test_a_build_records_the_formation_its_berth_toml_states(pool: asyncpg.Pool, infra: Any) -> None:
    """The store records what the file states, with berth.toml's paths in its refusals (the
    route over HTTP: tests/routes/test_builds.py)."""
    app, _ = await live_app(pool, infra)
    spec = BuildSpec(context_object="ctx-test", size_bytes=1)
    async with pool.acquire() as conn:
        built = await builds.create_build_release(
            conn, app["name"], spec, config=parse(BERTH_TOML), host="local", domain="test"
        )
    run = await told_to_run(pool, app, str(built["id"]))
    assert [(p.name, p.count, p.memory_mb) for p in run.processes] == [("web", 2, None), ("worker", 1, 256)]
    assert run.release_command is not None and run.release_command.command == ["python", "manage.py", "migrate"]

    # a file without [processes] keeps them; one whose formation does not fit is refused
    async with pool.acquire() as conn:
        kept = await builds.create_build_release(conn, app["name"], spec, config=parse("port = 8080\n"), host="local",
                                                 domain="test")  # fmt: skip
        assert [p.count for p in (await told_to_run(pool, app, str(kept["id"]))).processes] == [2, 1]
        with pytest.raises(ValidationFailed) as err:
            await builds.create_build_release(
                conn, app["name"], spec, config=parse('[processes]\nweb = { count = 6 }\n'), host="local",
                domain="test",
            )  # fmt: skip
    assert [d.field for d in err.value.details] == ["berth.toml: processes"]
