"""Least privilege on the bus, tried as an attacker holding one service's NATS credentials.

The canary: while an app with a secret env value deploys through `berth up`, each non-agent
identity (api, router, logs, health) listens to everything it may and tries what it may not —
every inbox, everything, the agent's replies, the JetStream API of streams, consumers and build
contexts that are not its own. Every attempt fails with a permissions violation, and nothing
any of them receives contains the secret (the desired-state replies carry it sealed to the
agent). Per service: a forbidden subscribe and a forbidden publish fail.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import nats
import nats.errors
import pytest
from berth_shared.identities import inbox_prefix
from berth_testing import RunningPlatform, eventually, wait_for
from nats.aio.client import Client
from nats.aio.msg import Msg

pytestmark = pytest.mark.e2e

SECRET = "canary_" + uuid.uuid4().hex + "_MUSTNOTLEAK"
SERVICE_OF = {"api": "api", "agent": "runtime-agent", "router": "router", "logs": "logs", "health": "health"}
NON_AGENT = ("api", "router", "logs", "health")

# What no non-agent identity may do: (kind, subject). "request" publishes to a JetStream API
# (or query) subject and expects no answer.
FORBIDDEN_SUBSCRIPTIONS = ("_INBOX.>", ">", f"{inbox_prefix('agent')}.>", "berth.evt.>")
FORBIDDEN_REQUESTS = (
    "$JS.API.STREAM.LIST",
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.PURGE.BERTH_LOGS",
    "$JS.API.STREAM.DELETE.BERTH_CMD",
    "$JS.API.STREAM.UPDATE.BERTH_EVT",
    "$JS.API.CONSUMER.DURABLE.CREATE.BERTH_CMD.evil",
    "$JS.API.CONSUMER.CREATE.BERTH_CMD",
    "$JS.API.CONSUMER.CREATE.BERTH_CMD.evil.berth.cmd.>",
    "$JS.API.CONSUMER.LIST.BERTH_EVT",
    "berth.rpc.api.desired.get",
    "berth.rpc.api.desired.list",
)
# Reading the build contexts: only the API (writer) and the agent (reader) may.
FORBIDDEN_BUILDS_READ = (
    "$JS.API.STREAM.INFO.OBJ_BERTH_BUILDS",
    "$JS.API.STREAM.MSG.GET.OBJ_BERTH_BUILDS",
    "$JS.API.CONSUMER.CREATE.OBJ_BERTH_BUILDS",
)


@dataclass
class Intruder:
    """A connection with one service's credentials that records all it gets and every error."""

    user: str
    nc: Client | None = None
    errors: list[str] = field(default_factory=list)
    received: list[bytes] = field(default_factory=list)

    async def connect(self, url: str, password: str) -> Intruder:
        async def on_error(exc: Exception) -> None:
            self.errors.append(str(exc))

        self.nc = await nats.connect(
            url,
            user=self.user,
            password=password,
            inbox_prefix=inbox_prefix(self.user),
            error_cb=on_error,
            max_reconnect_attempts=0,
        )
        return self

    async def on_msg(self, msg: Msg) -> None:
        self.received.append(msg.subject.encode() + b" " + (msg.reply or "").encode() + b" " + msg.data)

    async def subscribe(self, subject: str) -> None:
        assert self.nc is not None
        await self.nc.subscribe(subject, cb=self.on_msg)

    async def request(self, subject: str) -> None:
        """A request that must go unanswered: the server drops it as a violation."""
        assert self.nc is not None
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await self.nc.request(subject, b"{}", timeout=0.5)

    async def publish(self, subject: str) -> None:
        assert self.nc is not None
        await self.nc.publish(subject, b"{}")
        await self.nc.flush()

    async def violated(self, kind: str, subject: str) -> None:
        wanted = f'permissions violation for {kind} to "{subject}"'.lower()

        def seen() -> bool:
            return any(wanted in e.lower() for e in self.errors)

        async def probe() -> bool:
            assert self.nc is not None
            await self.nc.flush()
            return seen()

        await eventually(probe, within=10, what=f"{self.user}: {wanted}")

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.close()


async def attempt_everything(intruder: Intruder) -> None:
    """Every forbidden move, each asserted to be refused as a permissions violation."""
    for subject in FORBIDDEN_SUBSCRIPTIONS:
        await intruder.subscribe(subject)
        await intruder.violated("subscription", subject)
    for subject in FORBIDDEN_REQUESTS:
        await intruder.request(subject)
        await intruder.violated("publish", subject)
    if intruder.user != "api":
        await intruder.subscribe("$O.BERTH_BUILDS.>")
        await intruder.violated("subscription", "$O.BERTH_BUILDS.>")
        for subject in FORBIDDEN_BUILDS_READ:
            await intruder.request(subject)
            await intruder.violated("publish", subject)


# -- per service, against the launcher's NATS (the same configuration `berth up` writes) --------


@pytest.mark.parametrize("user", list(SERVICE_OF))
async def test_a_forbidden_subscribe_and_publish_fail_for_each_service(infra: Any, user: str) -> None:
    password = infra.credentials.nats_passwords[SERVICE_OF[user]]
    intruder = await Intruder(user).connect(infra.nats_url, password)
    other = next(u for u in SERVICE_OF if u != user)
    try:
        await intruder.subscribe(f"{inbox_prefix(other)}.>")  # another identity's replies
        await intruder.violated("subscription", f"{inbox_prefix(other)}.>")
        await intruder.subscribe("_INBOX.>")
        await intruder.violated("subscription", "_INBOX.>")
        await intruder.publish(f"berth.evt.{other}.app.created.x")  # another service's events
        await intruder.violated("publish", f"berth.evt.{other}.app.created.x")
        await intruder.request("$JS.API.STREAM.DELETE.BERTH_EVT")
        await intruder.violated("publish", "$JS.API.STREAM.DELETE.BERTH_EVT")
        # What it may do still works on the same connection: its own inbox, the JetStream INFO.
        assert intruder.nc is not None
        info = json.loads((await intruder.nc.request("$JS.API.INFO", b"", timeout=5)).data)
        assert info["type"] == "io.nats.jetstream.api.v1.account_info_response"
    finally:
        await intruder.close()
    observer = await nats.connect(infra.nats_url, user="observer", password=infra.observer_nats()[2])
    try:
        for stream in ("BERTH_CMD", "BERTH_EVT", "BERTH_LOGS", "OBJ_BERTH_BUILDS"):
            await observer.jetstream().stream_info(stream)  # nothing was deleted
    finally:
        await observer.close()


async def test_the_agent_may_not_create_consumers_on_other_streams(infra: Any) -> None:
    intruder = await Intruder("agent").connect(infra.nats_url, infra.credentials.nats_passwords["runtime-agent"])
    try:
        for subject in ("$JS.API.CONSUMER.DURABLE.CREATE.BERTH_EVT.api-release-events", "$JS.API.STREAM.LIST"):
            await intruder.request(subject)
            await intruder.violated("publish", subject)
    finally:
        await intruder.close()


# -- the canary, on a platform started by `berth up` ---------------------------------------------


def _nats(p: RunningPlatform) -> tuple[str, dict[str, str]]:
    credentials = json.loads((p.home / "credentials.json").read_text())
    return f"nats://127.0.0.1:{p.env['BERTH_NATS_PORT']}", credentials["nats_passwords"]


def _deploy_with_secret(p: RunningPlatform, image: str) -> str:
    name = f"canary-{uuid.uuid4().hex[:6]}"
    created = p.api.post("/api/apps", json={"name": name, "stopTimeoutSeconds": 2})
    assert created.status_code == 201, created.text
    changed = p.api.post(f"/api/apps/{name}/env", json={"vars": {"CANARY": SECRET}}, params={"deploy": "false"})
    assert changed.status_code == 200, changed.text
    deployed = p.api.post(f"/api/apps/{name}/deploy", json={"image": image})
    assert deployed.status_code == 202, deployed.text
    release_id = deployed.json()["id"]

    def live() -> bool:
        status = p.api.get(f"/api/apps/{name}/releases/{release_id}").json()
        assert status["status"] != "failed", status
        return bool(status["status"] == "live")

    wait_for(live, timeout=120, what=f"{name} live")
    return name


def _container_env(p: RunningPlatform, app: str) -> list[str]:
    import subprocess

    ids = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=berth.instance={p.instance}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    inspected = json.loads(subprocess.run(["docker", "inspect", *ids], capture_output=True, check=True).stdout)
    return [
        e
        for c in inspected
        if c["Config"]["Env"] and f"BERTH_APP={app}" in c["Config"]["Env"]
        for e in c["Config"]["Env"]
    ]


async def test_canary_no_other_identity_reaches_the_agents_secrets(
    platform: RunningPlatform, test_images: dict[str, str]
) -> None:
    url, passwords = _nats(platform)
    intruders = [await Intruder(user).connect(url, passwords[SERVICE_OF[user]]) for user in NON_AGENT]
    try:
        for intruder in intruders:
            # Everything each identity may listen to: its own inbox and its own query subjects.
            await intruder.subscribe(f"{inbox_prefix(intruder.user)}.>")
            await intruder.subscribe(f"berth.rpc.{intruder.user}.>")
        deploy = asyncio.create_task(asyncio.to_thread(_deploy_with_secret, platform, test_images["v1"]))
        for intruder in intruders:
            await attempt_everything(intruder)
        app = await deploy
        # The secret did travel to the agent: the container has it.
        assert f"CANARY={SECRET}" in await asyncio.to_thread(_container_env, platform, app)
        for intruder in intruders:
            assert intruder.nc is not None
            await intruder.nc.flush()
    finally:
        for intruder in intruders:
            await intruder.close()
    for intruder in intruders:
        leaked = [m for m in intruder.received if SECRET.encode() in m]
        assert leaked == [], f"{intruder.user} received the secret: {leaked[:1]!r}"
        assert not any(SECRET in e for e in intruder.errors)
    # The listening worked: the api identity saw the agent's desired-state queries go by (the
    # replies, sealed, went to the agent's inbox, which no one else may read).
    api = next(i for i in intruders if i.user == "api")
    assert any(m.startswith(b"berth.rpc.api.desired.") for m in api.received)


def test_berth_up_runs_with_no_observer_and_no_provisioning_identity(platform: RunningPlatform) -> None:
    conf = json.loads((platform.home / "nats.conf").read_text())
    assert {u["user"] for u in conf["authorization"]["users"]} == set(SERVICE_OF)
    assert oct((platform.home / "nats.conf").stat().st_mode & 0o777) == "0o600"
    # The streams exist (created at start by the provisioning identity, which is gone).
    log = (platform.home / "logs" / "nats.log").read_text()
    assert "Reloaded: authorization users" in log


@pytest.mark.parametrize("user", list(SERVICE_OF))
async def test_only_the_api_and_the_agent_touch_a_runs_live_output_and_input(infra: Any, user: str) -> None:
    """ADR 0026 §6: a run's output (which may hold its secrets) is read only by the API and
    written only by the agent; its stdin written only by the API and read only by the agent."""
    password = infra.credentials.nats_passwords[SERVICE_OF[user]]
    intruder = await Intruder(user).connect(infra.nats_url, password)
    forbidden_reads = {"api": ["berth.run.a.r.in"], "agent": ["berth.run.a.r.out"]}.get(user, ["berth.run.>"])
    forbidden_writes = {"api": ["berth.run.a.r.out"], "agent": ["berth.run.a.r.in"]}.get(
        user, ["berth.run.a.r.in", "berth.run.a.r.out"]
    )
    try:
        for subject in forbidden_reads:
            await intruder.subscribe(subject)
            await intruder.violated("subscription", subject)
        for subject in forbidden_writes:
            await intruder.publish(subject)
            await intruder.violated("publish", subject)
    finally:
        await intruder.close()
