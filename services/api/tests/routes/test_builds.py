"""POST /api/apps/{id}/builds with a berth.toml (X-Berth-Config) over HTTP, against real Postgres
and NATS (the build context goes to the real object store): the file's formation is recorded on
the build's release, sections it does not state carry over from the previous release, a rollback
returns to it, and an invalid section is a 422 naming the field as ``berth.toml: <path>`` with
nothing created (ADR 0026 §1)."""

from __future__ import annotations

import base64
import io
import tarfile
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from berth_api import apps_store, releases_store
from berth_api.app import create_app
from berth_api.routes import apps as apps_route
from berth_api.routes import builds as builds_route
from berth_api.scopes import Principal, Scope
from berth_api.state import ApiState
from berth_api.tokens_store import create as create_token
from berth_api.validation import CreateApp
from berth_api.views import release_view
from berth_shared import bus
from berth_shared.contracts.releases import ReleaseLive
from berth_shared.settings import ServiceEnv

pytestmark = pytest.mark.integration

ADMIN = Principal(token_id=uuid.uuid4(), name="test-admin", scope=Scope.ADMIN)

BERTH_TOML = """
port = 8080
release = "python manage.py migrate"
[processes]
web = { command = "gunicorn app:app", count = 2 }
worker = { command = "python worker.py", memory_mb = 256 }
[[cron]]
name = "nightly"
schedule = "0 3 * * *"
command = "python report.py"
"""


def context() -> bytes:
    """A build context: a tar of a directory holding a Dockerfile."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = b'FROM scratch\nCMD ["/bin/true"]\n'
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Api:
    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client, self.token = client, token

    async def build(self, app: str, toml: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/x-tar"}
        if toml is not None:
            headers["X-Berth-Config"] = base64.b64encode(toml.encode()).decode()
        return await self.client.post(f"/api/apps/{app}/builds", headers=headers, content=context())


@pytest.fixture
async def api(pool: asyncpg.Pool, infra: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Api]:
    async def engine_up(nc: Any, host: str) -> None:
        return None

    # No agent runs here: the engine check (an RPC to the agent) is what the e2e tests cover.
    monkeypatch.setattr(builds_route, "require_engine", engine_up)
    async with pool.acquire() as conn:
        _, token = await create_token(conn, f"deploy-{uuid.uuid4().hex[:6]}", Scope.DEPLOY, None, None, actor=ADMIN)
    env = ServiceEnv.from_env(infra.service_env("api"))
    nc = await bus.connect(env.nats_url, env.nats_user, env.nats_password, name="test-api-builds")
    app = create_app(ApiState(pool=pool, nc=nc, settings=infra.settings))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
            yield Api(client, token)
    finally:
        await nc.close()


async def new_app(pool: asyncpg.Pool, infra: Any) -> asyncpg.Record:
    async with pool.acquire() as conn:
        return await apps_store.create_app(
            conn, CreateApp(name=f"b{uuid.uuid4().hex[:10]}"), infra.settings.subnet_pool, "test"
        )


async def go_live(pool: asyncpg.Pool, app: asyncpg.Record, release_id: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await releases_store.go_live(conn, ReleaseLive(app_id=str(app["id"]), release_id=release_id, slot="a"))


async def test_a_berth_toml_formation_is_recorded_on_the_build_release(
    pool: asyncpg.Pool, infra: Any, api: Api
) -> None:
    app = await new_app(pool, infra)
    response = await api.build(app["name"], BERTH_TOML)
    assert response.status_code == 202, response.text
    built = response.json()
    assert built["kind"] == "build"
    assert built["formation"]["processes"] == {
        "web": {"command": ["gunicorn", "app:app"], "count": 2, "memoryMb": None, "cpus": None},
        "worker": {"command": ["python", "worker.py"], "count": 1, "memoryMb": 256, "cpus": None},
    }
    migrate = {"command": ["python", "manage.py", "migrate"], "timeoutSeconds": 300}
    assert built["formation"]["releaseCommand"] == migrate
    assert [job["name"] for job in built["formation"]["cron"]] == ["nightly"]
    await go_live(pool, app, built["id"])

    # A file stating only [processes] replaces them; the release command and cron carry over.
    second = await api.build(app["name"], '[processes]\nweb = { count = 1 }\nbeat = "python beat.py"\n')
    assert second.status_code == 202, second.text
    formation = second.json()["formation"]
    assert {name: p["count"] for name, p in formation["processes"].items()} == {"web": 1, "beat": 1}
    assert formation["releaseCommand"] == built["formation"]["releaseCommand"]
    assert formation["cron"] == built["formation"]["cron"]
    await go_live(pool, app, second.json()["id"])

    # No berth.toml at all: everything carries over.
    third = await api.build(app["name"], None)
    assert third.status_code == 202, third.text
    assert third.json()["formation"] == formation
    await go_live(pool, app, third.json()["id"])

    # A rollback to the first build returns to the file's formation.
    async with pool.acquire() as conn:
        back = await apps_store.rollback(conn, app["name"], built["id"], "local")
    assert release_view(back)["formation"] == built["formation"]


async def test_a_rollback_returns_to_the_settings_its_berth_toml_stated(
    pool: asyncpg.Pool, infra: Any, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 17: a release records its berth.toml, so a rollback to it returns to the port,
    timeouts, resources and health check the file stated (what it did not state stays)."""

    async def nothing(*args: Any) -> None:
        return None

    # No agent runs here: the engine and image checks are RPCs to the agent (the e2e tests cover them).
    monkeypatch.setattr(apps_route, "require_engine", nothing)
    monkeypatch.setattr(apps_route, "require_image", nothing)
    app = await new_app(pool, infra)
    first = await api.build(app["name"], 'stop_timeout = 15\n[resources]\nmemory_mb = 128\n[health]\npath = "/up"\n')
    assert first.status_code == 202, first.text
    await go_live(pool, app, first.json()["id"])
    second_toml = 'stop_timeout = 30\n[resources]\nmemory_mb = 512\ncpus = 1.0\n[health]\npath = "/ready"\n'
    second = await api.build(app["name"], second_toml)
    assert second.status_code == 202, second.text
    await go_live(pool, app, second.json()["id"])
    auth = {"Authorization": f"Bearer {api.token}"}

    async def shown() -> tuple[Any, ...]:
        a = (await api.client.get(f"/api/apps/{app['name']}", headers=auth)).json()
        return (a["stopTimeoutSeconds"], a["resources"]["memoryMb"], a["resources"]["cpus"], a["healthCheck"]["path"])

    assert await shown() == (30, 512, 1.0, "/ready")
    back = await api.client.post(
        f"/api/apps/{app['name']}/rollback", json={"releaseId": first.json()["id"]}, headers=auth
    )
    assert back.status_code == 202, back.text
    assert await shown() == (15, 128, 1.0, "/up")  # cpus: the first file did not state it
    recorded = await pool.fetchval("SELECT config FROM releases WHERE id = $1", uuid.UUID(back.json()["id"]))
    assert recorded == await pool.fetchval("SELECT config FROM releases WHERE id = $1", uuid.UUID(first.json()["id"]))


async def test_invalid_berth_toml_sections_are_422_naming_the_field(pool: asyncpg.Pool, infra: Any, api: Api) -> None:
    app = await new_app(pool, infra)

    async def refused(toml: str) -> list[str]:
        response = await api.build(app["name"], toml)
        assert response.status_code == 422, response.text
        return sorted(d["field"] for d in response.json()["error"]["details"])

    assert await refused('[processes]\nworker = { command = "python worker.py", count = 11 }\n') == [
        "berth.toml: processes.worker.count"
    ]
    assert await refused('release = { timeout_seconds = 5 }\n[processes]\nrun = "x"\n') == [
        "berth.toml: processes.run",
        "berth.toml: release.command",
    ]
    assert await refused('[[cron]]\nname = "n"\nschedule = "61 * * * *"\ncommand = "x"\n') == [
        "berth.toml: cron[0].schedule"
    ]
    # web 3 + worker 3: the rollout would not fit the app's /28
    assert await refused('[processes]\nweb = { count = 3 }\nworker = { command = "w", count = 3 }\n') == [
        "berth.toml: processes"
    ]
    assert await pool.fetchval("SELECT count(*) FROM releases WHERE app_id = $1", app["id"]) == 0
