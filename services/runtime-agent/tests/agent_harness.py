"""Integration harness for the agent's tests: the agent in-process against the launcher's NATS and the host's Docker.

The API is being written concurrently, so a test-side responder (logged in as the API's own
NATS user) plays its desired-state role from a dict the test edits, and sends ReconcileApp
commands the way the API does. Another (logged in as the router) confirms the agent's slot
switches and records them. Every test gets its own instance label and host id, and
everything carrying its instance label is removed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import ipaddress
import json
import os
import random
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiodocker
import httpx
import msgspec
from berth_agent.drain import decide as netfilter
from berth_agent.loop import Agent
from berth_agent.service import MIGRATIONS, main
from berth_agent.state import CrashPolicy
from berth_shared import bus, labels
from berth_shared.contracts.base import Message, encode
from berth_shared.contracts.builds import BuildLog
from berth_shared.contracts.containers import ContainerExited, ContainerOomKilled, ContainerStarted
from berth_shared.contracts.desired import (
    DESIRED_GET,
    DESIRED_LIST,
    DesiredApp,
    DesiredListReply,
    DesiredRelease,
    DesiredReply,
    GetDesired,
    ListDesired,
)
from berth_shared.contracts.releases import (
    AppCleanedUp,
    AppCrashed,
    ReconcileApp,
    ReleaseFailed,
    ReleaseLive,
    ReleaseStep,
    RestartInPlace,
    reconcile_subject,
    restart_subject,
)
from berth_shared.contracts.slots import SLOT_SWITCH, SlotSwitched, SwitchSlot
from berth_shared.netplan import APP_PREFIX
from berth_shared.sealing import seal_env
from berth_shared.service import ServiceContext, close_context, open_context
from berth_shared.settings import ServiceEnv, Settings
from berth_shared.streams import agent_command_consumer
from nats.aio.client import Client
from nats.aio.msg import Msg

AgentEventMessage = (
    ReleaseStep
    | ReleaseLive
    | ReleaseFailed
    | AppCrashed
    | AppCleanedUp
    | ContainerStarted
    | ContainerExited
    | ContainerOomKilled
    | BuildLog
)
M = TypeVar("M", bound=Message)
KEEP_RELEASES = 5  # the API keeps the images of each app's last 5 releases

_used_subnets: set[str] = set()


async def eventually(check: Callable[[], Any], timeout: float = 30.0, every: float = 0.1) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy, or fail at the deadline."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while True:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
        await asyncio.sleep(every)


class EventLog:
    """Every agent event seen on the bus, in order."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def on_msg(self, msg: Msg) -> None:
        with contextlib.suppress(msgspec.ValidationError, msgspec.DecodeError):
            self.messages.append(msgspec.json.decode(msg.data, type=AgentEventMessage))

    def of(self, kind: type[M], **fields: object) -> list[M]:
        return [
            m
            for m in self.messages
            if isinstance(m, kind) and all(getattr(m, key) == value for key, value in fields.items())
        ]

    async def wait_for(self, kind: type[M], timeout: float = 60.0, **fields: object) -> M:
        found = await eventually(lambda: self.of(kind, **fields), timeout)
        return found[0]  # type: ignore[no-any-return]

    async def wait_outcome(self, release_id: str, timeout: float = 60.0) -> ReleaseLive | ReleaseFailed:
        def outcome() -> list[Message]:
            return [*self.of(ReleaseLive, release_id=release_id), *self.of(ReleaseFailed, release_id=release_id)]

        found = await eventually(outcome, timeout)
        return found[0]  # type: ignore[no-any-return]

    def steps(self, release_id: str) -> list[str]:
        return [m.step for m in self.of(ReleaseStep, release_id=release_id)]


def sealed(app: DesiredApp, seal_to: str | None) -> DesiredApp:
    """As the API answers: the release's env only sealed to the asking agent's key."""
    release = app.release
    if release is None:
        return app
    assert seal_to, "the agent must send its public key with desired-state queries"
    box = seal_env(release.env, seal_to, app.app_id, release.release_id)
    return msgspec.structs.replace(app, release=msgspec.structs.replace(release, env={}, sealed_env=box))


@dataclass
class FakeApi:
    """Plays the API: answers desired-state queries from ``apps`` and sends reconcile commands."""

    nc: Client
    host: str
    apps: dict[str, DesiredApp] = field(default_factory=dict)

    async def start(self) -> None:
        await self.nc.subscribe(DESIRED_GET, queue="api", cb=self._on_get)
        await self.nc.subscribe(DESIRED_LIST, queue="api", cb=self._on_list)

    async def _on_get(self, msg: Msg) -> None:
        request = msgspec.json.decode(msg.data, type=GetDesired)
        app = self.apps.get(request.app_id)
        await msg.respond(encode(DesiredReply(app=sealed(app, request.seal_to) if app else None)))

    async def _on_list(self, msg: Msg) -> None:
        request = msgspec.json.decode(msg.data, type=ListDesired)
        await msg.respond(encode(DesiredListReply(apps=[sealed(a, request.seal_to) for a in self.apps.values()])))

    async def reconcile(self, app_id: str) -> None:
        command = ReconcileApp(app_id=app_id, reason="test")
        await bus.publish(self.nc.jetstream(), reconcile_subject(self.host), command, msg_id=command.id)

    async def restart_in_place(self, app_id: str, release_id: str) -> None:
        command = RestartInPlace(app_id=app_id, release_id=release_id)
        await bus.publish(self.nc.jetstream(), restart_subject(self.host), command, msg_id=command.id)

    async def set_release(self, app_id: str, release: DesiredRelease, keep: list[str] | None = None) -> None:
        """Make ``release`` the desired one; like the API, keep the images of the last 5 releases
        (or exactly ``keep``)."""
        app = self.apps[app_id]
        kept = keep if keep is not None else [*app.keep_images, release.image][-KEEP_RELEASES:]
        self.apps[app_id] = msgspec.structs.replace(app, release=release, keep_images=kept)
        await self.reconcile(app_id)


@dataclass
class FakeRouter:
    """Plays the router's side of slot switches: confirms each (unless ``answering`` is off) and
    keeps them in order."""

    nc: Client
    switches: list[SwitchSlot] = field(default_factory=list)
    answering: bool = True

    async def start(self) -> None:
        await self.nc.subscribe(SLOT_SWITCH, queue="router", cb=self._on_switch)

    async def _on_switch(self, msg: Msg) -> None:
        request = msgspec.json.decode(msg.data, type=SwitchSlot)
        if not self.answering:
            return
        self.switches.append(request)
        await msg.respond(encode(SlotSwitched(app_id=request.app_id, release_id=request.release_id, slot=request.slot)))

    def slots_of(self, app_id: str) -> list[str]:
        return [s.slot for s in self.switches if s.app_id == app_id]


@dataclass
class Harness:
    infra: Any
    docker: aiodocker.Docker
    api: FakeApi
    events: EventLog
    instance: str
    host: str
    # The launcher's observer identity (tests only): reads what no service may (consumer state).
    observer: Client
    router: FakeRouter
    agents: list[tuple[ServiceContext, asyncio.Task[None]]] = field(default_factory=list)
    agent_objects: list[Agent] = field(default_factory=list)

    def env(self) -> tuple[ServiceEnv, Settings]:
        raw = {**self.infra.service_env("runtime-agent"), "BERTH_INSTANCE": self.instance, "BERTH_HOST_ID": self.host}
        return ServiceEnv.from_env(raw), Settings.from_env(raw)

    async def start_agent(self, policy: CrashPolicy | None = None) -> asyncio.Task[None]:
        env, settings = self.env()
        ctx = await open_context("agent", MIGRATIONS, [agent_command_consumer(self.host)], env=env, settings=settings)
        task = asyncio.create_task(main(ctx, policy, started=self.agent_objects.append))
        self.agents.append((ctx, task))
        return task

    async def kill_agent(self, task: asyncio.Task[None]) -> None:
        """Stop an agent abruptly, wherever it is (mid-rollout included)."""
        for ctx, candidate in list(self.agents):
            if candidate is task:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await close_context(ctx)
                self.agents.remove((ctx, candidate))

    async def commands_done(self) -> bool:
        """Every reconcile command sent so far was handled and acked."""
        durable = agent_command_consumer(self.host).durable
        info = await self.observer.jetstream().consumer_info("BERTH_CMD", durable)
        return info.num_pending == 0 and info.num_ack_pending == 0

    def new_app(self, name: str = "web", **fields: Any) -> DesiredApp:
        app = DesiredApp(
            app_id=uuid.uuid4().hex,
            name=name,
            hostname=f"{name}.berth.test",
            port=8080,
            subnet=free_subnet(self.infra.settings.subnet_pool),
            **fields,
        )
        self.api.apps[app.app_id] = app
        return app

    async def containers(self, app_id: str, release_id: str | None = None) -> list[dict[str, Any]]:
        wanted = [*labels.instance_filter(self.instance), f"{labels.APP}={app_id}"]
        if release_id:
            wanted.append(f"{labels.RELEASE}={release_id}")
        listed = await self.docker.containers.list(all=True, filters=json.dumps({"label": wanted}))
        shown = []
        for container in listed:
            try:
                shown.append(await container.show())
            except aiodocker.DockerError as exc:
                if exc.status != 404:  # removed between the listing and its inspect (a drain): gone
                    raise
        return shown

    async def networks(self, app_id: str) -> list[dict[str, Any]]:
        wanted = [*labels.instance_filter(self.instance), f"{labels.APP}={app_id}"]
        return list(await self.docker.networks.list(filters={"label": wanted}))

    async def agent(self) -> Agent:
        """The most recently started agent object (once its main has built it)."""
        count = len(self.agents)
        await eventually(lambda: len(self.agent_objects) >= count, timeout=10)
        return self.agent_objects[-1]

    def drain_rules(self, app_id: str | None = None) -> list[netfilter.ListedRule]:
        """This test instance's drain rules in the host's OUTPUT and FORWARD chains."""
        found: list[netfilter.ListedRule] = []
        for chain in netfilter.CHAINS:
            listing = subprocess.run(
                ["iptables", *netfilter.list_args(chain)], check=True, capture_output=True, text=True
            ).stdout
            found.extend(netfilter.rules_of(netfilter.parse_listing(chain, listing), self.instance, app_id))
        return found

    def remove_drain_rules(self) -> None:
        for rule in self.drain_rules():
            subprocess.run(["iptables", *netfilter.delete_args(rule)], check=False, capture_output=True)

    async def remove_everything(self) -> None:
        self.remove_drain_rules()
        selected = {"label": labels.instance_filter(self.instance)}
        for container in await self.docker.containers.list(all=True, filters=json.dumps(selected)):
            with contextlib.suppress(aiodocker.DockerError):
                await container.delete(force=True)
        for network in await self.docker.networks.list(filters=selected):
            with contextlib.suppress(aiodocker.DockerError):
                await (await self.docker.networks.get(network["Id"])).delete()
        # The builds' cgroup parent (empty once its build containers are gone).
        for leftover in glob.glob(f"/sys/fs/cgroup/*/berth-build-{self.instance}") + glob.glob(
            f"/sys/fs/cgroup/berth-build-{self.instance}"
        ):
            with contextlib.suppress(OSError):
                os.rmdir(leftover)


def free_subnet(pool: ipaddress.IPv4Network) -> str:
    candidates = [str(s) for s in pool.subnets(new_prefix=APP_PREFIX) if str(s) not in _used_subnets]
    chosen = random.choice(candidates[1:])  # keep the pool's first /28 unused
    _used_subnets.add(chosen)
    return chosen


def release(image: str, **fields: Any) -> DesiredRelease:
    defaults: dict[str, Any] = {"status": "pending", "deadline_seconds": 20, "stop_timeout_seconds": 1}
    return DesiredRelease(release_id=uuid.uuid4().hex, image=image, **(defaults | fields))


async def get_text(url: str) -> str | None:
    try:
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
            response = await client.get(url)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None
