"""Agent events move releases and apps forward, idempotently (real Postgres)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest
from berth_api import apps_store
from berth_api.consumers import release_events
from berth_api.responders import app_list
from berth_api.validation import CreateApp
from berth_shared.contracts.base import encode
from berth_shared.contracts.builds import BuildLog
from berth_shared.contracts.owner_state import ListApps
from berth_shared.contracts.releases import AppCleanedUp, AppCrashed, ReleaseFailed, ReleaseLive, ReleaseStep
from berth_shared.settings import Settings

pytestmark = pytest.mark.integration


async def new_app(pool: asyncpg.Pool, infra: Any) -> asyncpg.Record:
    settings: Settings = infra.settings
    async with pool.acquire() as conn:
        return await apps_store.create_app(
            conn, CreateApp(name=f"a{uuid.uuid4().hex[:10]}"), settings.subnet_pool, "test"
        )


async def deploy(pool: asyncpg.Pool, app: asyncpg.Record, image: str) -> asyncpg.Record:
    async with pool.acquire() as conn:
        _, rel = await apps_store.create_release(conn, str(app["id"]), image, "deploy", "local")
        return rel


async def apply(pool: asyncpg.Pool, event: Any) -> None:
    async with pool.acquire() as conn:
        await release_events.apply(conn, event)


async def state(pool: asyncpg.Pool, app: asyncpg.Record, rel: asyncpg.Record) -> tuple[Any, Any]:
    a = await pool.fetchrow("SELECT * FROM apps WHERE id = $1", app["id"])
    r = await pool.fetchrow("SELECT * FROM releases WHERE id = $1", rel["id"])
    return a, r


async def test_step_then_live_makes_the_release_current(pool: asyncpg.Pool, infra: Any) -> None:
    app = await new_app(pool, infra)
    rel = await deploy(pool, app, "img:1")
    ids = {"app_id": str(app["id"]), "release_id": str(rel["id"])}
    step = ReleaseStep(**ids, step="container.started", slot="a")
    await apply(pool, step)
    await apply(pool, step)  # redelivered
    a, r = await state(pool, app, rel)
    assert r["status"] == "starting" and a["status"] == "deploying"
    assert await pool.fetchval("SELECT count(*) FROM release_steps WHERE release_id = $1", rel["id"]) == 1

    live = ReleaseLive(**ids, slot="a", image_digest="sha256:abc")
    await apply(pool, live)
    await apply(pool, live)
    a, r = await state(pool, app, rel)
    assert r["status"] == "live" and r["image_digest"] == "sha256:abc"
    assert a["status"] == "running" and a["current_release_id"] == rel["id"] and a["last_deployed_at"]


async def test_newer_live_release_supersedes_the_old_one(pool: asyncpg.Pool, infra: Any) -> None:
    app = await new_app(pool, infra)
    first = await deploy(pool, app, "img:1")
    await apply(pool, ReleaseLive(app_id=str(app["id"]), release_id=str(first["id"]), slot="a"))
    second = await deploy(pool, app, "img:2")
    await apply(pool, ReleaseLive(app_id=str(app["id"]), release_id=str(second["id"]), slot="b"))
    _, r1 = await state(pool, app, first)
    a, r2 = await state(pool, app, second)
    assert r1["status"] == "superseded" and r2["status"] == "live"
    assert a["current_release_id"] == second["id"]


async def test_failure_reverts_desired_to_the_live_release(pool: asyncpg.Pool, infra: Any) -> None:
    app = await new_app(pool, infra)
    good = await deploy(pool, app, "img:1")
    await apply(pool, ReleaseLive(app_id=str(app["id"]), release_id=str(good["id"]), slot="a"))
    bad = await deploy(pool, app, "img:broken")
    failed = ReleaseFailed(app_id=str(app["id"]), release_id=str(bad["id"]), reason="image not found: img:broken")
    await apply(pool, failed)
    await apply(pool, failed)
    a, r = await state(pool, app, bad)
    assert r["status"] == "failed" and r["reason"] == "image not found: img:broken"
    assert a["desired_release_id"] == good["id"] and a["current_release_id"] == good["id"]
    assert a["status"] == "running" and "image not found" in a["status_reason"]


async def test_late_failure_of_a_live_release_is_ignored(pool: asyncpg.Pool, infra: Any) -> None:
    app = await new_app(pool, infra)
    rel = await deploy(pool, app, "img:1")
    ids = {"app_id": str(app["id"]), "release_id": str(rel["id"])}
    await apply(pool, ReleaseLive(**ids, slot="a"))
    await apply(pool, ReleaseFailed(**ids, reason="stale"))
    _, r = await state(pool, app, rel)
    assert r["status"] == "live"


async def test_queued_release_is_superseded_by_a_newer_request(pool: asyncpg.Pool, infra: Any) -> None:
    app = await new_app(pool, infra)
    first = await deploy(pool, app, "img:1")
    second = await deploy(pool, app, "img:2")
    _, r1 = await state(pool, app, first)
    a, _ = await state(pool, app, second)
    assert r1["status"] == "superseded"
    assert a["desired_release_id"] == second["id"]


async def test_a_release_whose_command_reached_the_agent_is_still_superseded_until_it_starts(
    pool: asyncpg.Pool, infra: Any
) -> None:
    app = await new_app(pool, infra)
    first = await deploy(pool, app, "img:1")
    await apply(pool, ReleaseStep(app_id=str(app["id"]), release_id=str(first["id"]), step="command.received"))
    _, r1 = await state(pool, app, first)
    assert r1["status"] == "pending" and r1["started_at"] is None
    await deploy(pool, app, "img:2")  # queued behind a rollout, say: the newest request wins
    _, r1 = await state(pool, app, first)
    steps = await pool.fetch("SELECT step FROM release_steps WHERE release_id = $1", first["id"])
    assert r1["status"] == "superseded" and [s["step"] for s in steps] == ["command.received"]


async def test_crash_and_cleanup(pool: asyncpg.Pool, infra: Any) -> None:
    app = await new_app(pool, infra)
    rel = await deploy(pool, app, "img:1")
    ids = {"app_id": str(app["id"]), "release_id": str(rel["id"])}
    await apply(pool, ReleaseLive(**ids, slot="a"))
    await apply(pool, AppCrashed(**ids, exit_code=137, restarts=5))
    a, _ = await state(pool, app, rel)
    assert a["status"] == "crashed" and "137" in a["status_reason"]

    await apply(pool, AppCleanedUp(app_id=str(app["id"]), host="local"))
    assert await pool.fetchval("SELECT 1 FROM apps WHERE id = $1", app["id"]) == 1  # not deleted: ignored
    async with pool.acquire() as conn:
        await apps_store.delete_app(conn, str(app["id"]), "test", "local")
    await apply(pool, AppCleanedUp(app_id=str(app["id"]), host="local"))
    assert await pool.fetchval("SELECT 1 FROM apps WHERE id = $1", app["id"]) is None


async def test_rollback_targets_the_previous_live_release_by_digest(pool: asyncpg.Pool, infra: Any) -> None:
    app = await new_app(pool, infra)
    first = await deploy(pool, app, "img:1")
    await apply(
        pool, ReleaseLive(app_id=str(app["id"]), release_id=str(first["id"]), slot="a", image_digest="sha256:1")
    )
    second = await deploy(pool, app, "img:2")
    await apply(pool, ReleaseLive(app_id=str(app["id"]), release_id=str(second["id"]), slot="b"))
    restart = await deploy(pool, app, "img:2")  # a restart re-runs the same image
    await apply(pool, ReleaseLive(app_id=str(app["id"]), release_id=str(restart["id"]), slot="a"))
    async with pool.acquire() as conn:
        rolled = await apps_store.rollback(conn, str(app["id"]), None, "local")
    assert rolled["image"] == "sha256:1" and rolled["kind"] == "rollback" and rolled["rollback_of"] == first["id"]
    _, undone = await state(pool, app, restart)
    assert undone["rolled_back_at"] is not None
    a, _ = await state(pool, app, rolled)
    assert a["desired_release_id"] == rolled["id"]


async def test_rollback_refuses_releases_that_never_went_live(pool: asyncpg.Pool, infra: Any) -> None:
    from berth_shared.errors import Conflict

    app = await new_app(pool, infra)
    only = await deploy(pool, app, "img:1")
    async with pool.acquire() as conn:
        with pytest.raises(Conflict):
            await apps_store.rollback(conn, str(app["id"]), None, "local")
        with pytest.raises(Conflict):
            await apps_store.rollback(conn, str(app["id"]), str(only["id"]), "local")


async def test_keep_images_are_the_last_five_distinct_live_images_and_those_in_flight(
    pool: asyncpg.Pool, infra: Any
) -> None:
    app = await new_app(pool, infra)

    async def live(image: str, digest: str, slot: str) -> None:
        rel = await deploy(pool, app, image)
        await apply(pool, ReleaseLive(app_id=str(app["id"]), release_id=str(rel["id"]), slot=slot, image_digest=digest))

    for i in range(7):
        await live(f"img:{i}", f"sha256:{i}", "ab"[i % 2])
    for n in range(5):  # restarts re-run the live image: they must not push older images out
        await live("sha256:6", "sha256:6", "ba"[n % 2])
    await deploy(pool, app, "img:next")  # pending: its image is kept too
    kept = await apps_store.keep_images(pool, app["id"])
    assert kept == sorted(["img:next", *(f"sha256:{i}" for i in (6, 5, 4, 3, 2))])


async def test_port_change_of_a_running_app_rolls_out_a_config_release(pool: asyncpg.Pool, infra: Any) -> None:
    from berth_api.validation import UpdateApp

    app = await new_app(pool, infra)
    rel = await deploy(pool, app, "img:1")
    await apply(pool, ReleaseLive(app_id=str(app["id"]), release_id=str(rel["id"]), slot="a", image_digest="sha256:9"))
    async with pool.acquire() as conn:
        updated = await apps_store.update_app(conn, str(app["id"]), UpdateApp(port=9000), "test", "local")
    assert updated["port"] == 9000
    newest = await pool.fetchrow("SELECT * FROM releases WHERE app_id = $1 ORDER BY version DESC LIMIT 1", app["id"])
    assert newest["kind"] == "config" and newest["image"] == "sha256:9"
    async with pool.acquire() as conn:
        same = await apps_store.update_app(conn, str(app["id"]), UpdateApp(stopTimeoutSeconds=3), "test", "local")
    assert same["stop_timeout_seconds"] == 3
    assert await pool.fetchval("SELECT count(*) FROM releases WHERE app_id = $1", app["id"]) == 2


async def test_a_first_release_reads_running_from_the_step_after_which_the_proxy_serves_it(
    pool: asyncpg.Pool, infra: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    app = await new_app(pool, infra)
    rel = await deploy(pool, app, "img:1")
    ids = {"app_id": str(app["id"]), "release_id": str(rel["id"])}
    await apply(pool, ReleaseStep(**ids, step="container.started", slot="a"))
    a, _ = await state(pool, app, rel)
    assert a["status"] == "deploying" and a["last_deployed_at"] is None
    serving_at = datetime.now(UTC)
    await apply(pool, ReleaseStep(**ids, step="health.passed", slot="a", at=serving_at))
    a, r = await state(pool, app, rel)
    assert (a["status"], a["last_deployed_at"], r["status"]) == ("running", serving_at, "starting")
    await apply(pool, ReleaseLive(**ids, slot="a", image_digest="sha256:1", at=serving_at + timedelta(seconds=1.2)))
    a, r = await state(pool, app, rel)
    assert (a["status"], a["last_deployed_at"], a["current_release_id"]) == ("running", serving_at, rel["id"])
    assert r["status"] == "live"

    # A later release is deployed as before: the app reads deploying until it is live.
    rel2 = await deploy(pool, app, "img:2")
    ids2 = {"app_id": str(app["id"]), "release_id": str(rel2["id"])}
    await apply(pool, ReleaseStep(**ids2, step="health.passed", slot="b"))
    a, _ = await state(pool, app, rel2)
    assert (a["status"], a["last_deployed_at"]) == ("deploying", serving_at)
    live2 = ReleaseLive(**ids2, slot="b", image_digest="sha256:2")
    await apply(pool, live2)
    a, _ = await state(pool, app, rel2)
    assert (a["status"], a["last_deployed_at"]) == ("running", live2.at)


async def test_a_first_release_that_fails_after_serving_leaves_the_app_never_deployed(
    pool: asyncpg.Pool, infra: Any
) -> None:
    app = await new_app(pool, infra)
    rel = await deploy(pool, app, "img:1")
    ids = {"app_id": str(app["id"]), "release_id": str(rel["id"])}
    await apply(pool, ReleaseStep(**ids, step="health.passed", slot="a"))
    await apply(pool, ReleaseFailed(**ids, reason="the agent lost it"))
    a, r = await state(pool, app, rel)
    assert (a["status"], a["last_deployed_at"], r["status"]) == ("created", None, "failed")


async def test_steps_name_their_process_and_the_release_command_output_is_the_release_log(
    pool: asyncpg.Pool, infra: Any
) -> None:
    app = await new_app(pool, infra)
    rel = await deploy(pool, app, "img:1")
    ids = {"app_id": str(app["id"]), "release_id": str(rel["id"])}
    await apply(pool, ReleaseStep(**ids, step="release_command.started", process="release"))
    await apply(pool, ReleaseStep(**ids, step="process.ready", process="worker", instance=1))
    chunks = [
        BuildLog(**ids, lines=["Applying migrations"], seq=0, source="release"),
        BuildLog(**ids, lines=["Step 1/3"], seq=0),
        BuildLog(**ids, lines=["  0001_initial... OK", "done"], seq=1, source="release"),
    ]
    for chunk in [*chunks, chunks[2]]:  # the last one redelivered
        await apply(pool, chunk)
    steps = await pool.fetch("SELECT step, process, instance FROM release_steps WHERE release_id = $1", rel["id"])
    assert sorted((s["step"], s["process"], s["instance"]) for s in steps) == [
        ("process.ready", "worker", 1),
        ("release_command.started", "release", 0),
    ]
    _, r = await state(pool, app, rel)
    assert r["release_log"] == "Applying migrations\n  0001_initial... OK\ndone\n"
    assert r["build_log"] == "Step 1/3\n"
    # a worker's ready step is not the step after which the proxy serves the release
    a, _ = await state(pool, app, rel)
    assert a["status"] == "deploying"


async def test_a_crashed_worker_is_named_while_web_keeps_serving(pool: asyncpg.Pool, infra: Any) -> None:
    app = await new_app(pool, infra)
    rel = await deploy(pool, app, "img:1")
    ids = {"app_id": str(app["id"]), "release_id": str(rel["id"])}
    await apply(pool, ReleaseLive(**ids, slot="a"))
    await apply(pool, AppCrashed(**ids, exit_code=1, restarts=5, process="worker"))
    a, _ = await state(pool, app, rel)
    assert a["status"] == "running"
    assert a["status_reason"] == (
        "process worker crashed: exited with code 1 after 5 restarts; Berth stopped restarting it"
    )
    assert "worker" in json.loads(a["crashed_processes"])
    # the next live release starts over
    second = await deploy(pool, app, "img:2")
    await apply(pool, ReleaseLive(app_id=str(app["id"]), release_id=str(second["id"]), slot="b"))
    a, _ = await state(pool, app, second)
    assert a["status"] == "running" and a["status_reason"] is None and json.loads(a["crashed_processes"]) == {}


async def test_a_live_release_keeps_its_web_addresses(pool: asyncpg.Pool, infra: Any) -> None:
    app = await new_app(pool, infra)
    rel = await deploy(pool, app, "img:1")
    addresses = ["10.240.0.2", "10.240.0.4"]
    await apply(pool, ReleaseLive(app_id=str(app["id"]), release_id=str(rel["id"]), slot="a", addresses=addresses))
    _, r = await state(pool, app, rel)
    assert r["addresses"] == addresses
    listed = await app_list.list_apps(pool, encode(ListApps(requester="health")), "test")
    (facts,) = [a for a in listed.apps if a.app_id == str(app["id"])]
    assert facts.live is not None and facts.live.addresses == addresses


async def test_a_scale_of_the_live_release_moves_its_web_addresses_and_nothing_else(
    pool: asyncpg.Pool, infra: Any
) -> None:
    app = await new_app(pool, infra)
    rel = await deploy(pool, app, "img:1")
    ids = {"app_id": str(app["id"]), "release_id": str(rel["id"])}
    await apply(pool, ReleaseLive(**ids, slot="a", image_digest="sha256:abc", addresses=["10.240.0.2"]))
    before_app, before = await state(pool, app, rel)

    scaled = ["10.240.0.2", "10.240.0.4", "10.240.0.5"]
    await apply(pool, ReleaseLive(**ids, slot="a", addresses=scaled))  # the agent's scale: web 1 -> 3
    after_app, after = await state(pool, app, rel)
    assert after["addresses"] == scaled
    assert (after["status"], after["live_at"], after["image_digest"]) == ("live", before["live_at"], "sha256:abc")
    kept = ("status", "last_deployed_at", "current_release_id")
    assert [after_app[k] for k in kept] == [before_app[k] for k in kept]
    listed = await app_list.list_apps(pool, encode(ListApps(requester="health")), "test")
    (facts,) = [a for a in listed.apps if a.app_id == str(app["id"])]
    assert facts.live is not None and facts.live.addresses == scaled

    # Web scaled to 0: no instance to check (the resync says so), then back.
    await apply(pool, ReleaseLive(**ids, slot="a", no_instances=True))
    _, none = await state(pool, app, rel)
    assert (none["status"], none["addresses"], none["no_instances"]) == ("live", [], True)
    listed = await app_list.list_apps(pool, encode(ListApps(requester="health")), "test")
    (facts,) = [a for a in listed.apps if a.app_id == str(app["id"])]
    assert facts.live is not None and facts.live.no_instances
    await apply(pool, ReleaseLive(**ids, slot="a", addresses=scaled))
    _, back = await state(pool, app, rel)
    assert (back["addresses"], back["no_instances"]) == (scaled, False)

    # A release no longer live is not moved by a late one.
    second = await deploy(pool, app, "img:2")
    await apply(pool, ReleaseLive(app_id=str(app["id"]), release_id=str(second["id"]), slot="b"))
    await apply(pool, ReleaseLive(**ids, slot="a", addresses=["10.240.0.2"]))
    _, old = await state(pool, app, rel)
    assert old["status"] == "superseded" and old["addresses"] == scaled
