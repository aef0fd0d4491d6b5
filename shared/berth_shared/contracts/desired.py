"""Desired-state queries: the runtime agent asks the API what should run (core NATS request/reply).

Nothing on this path is persisted. Environment values travel here sealed to the agent
(``DesiredRelease.sealed_env``, see :mod:`berth_shared.sealing`): the agent sends its public
key with each query (``seal_to``), and no other bus identity can open what the API answers.
Only the agent identity may publish these queries, and replies reach only its inbox prefix.
Subjects: ``berth.rpc.api.desired.get`` and ``berth.rpc.api.desired.list`` (queue group ``api``).
"""

from __future__ import annotations

import msgspec

from berth_shared.contracts.base import Message
from berth_shared.contracts.builds import BuildSpec
from berth_shared.contracts.health import HealthCheck
from berth_shared.contracts.processes import ProcessSpec, ReleaseCommand

DESIRED_GET = "berth.rpc.api.desired.get"
DESIRED_LIST = "berth.rpc.api.desired.list"


class Resources(msgspec.Struct, kw_only=True):
    memory_mb: int = 256
    cpus: float = 0.5
    pids: int = 256


class DesiredRelease(msgspec.Struct, kw_only=True):
    release_id: str
    image: str
    # Never filled by the API any more (values must not travel in clear); kept so the message
    # only gains fields. The agent fills it in memory after opening ``sealed_env``.
    env: dict[str, str] = {}
    # The app's environment sealed to the agent's ``seal_to`` key, bound to app and release.
    sealed_env: str | None = None
    # The API's view of this release: pending, starting, live, failed, superseded.
    status: str = "pending"
    deadline_seconds: int = 60
    stop_timeout_seconds: int = 10
    # Set for releases built from source: build ``image`` from this context when it is missing.
    build: BuildSpec | None = None
    # For a release that re-runs an earlier image by id (restart, config change, rollback): the
    # name and version it was first deployed as, so a missing image can be explained.
    source_image: str = ""
    source_version: int = 0
    # The release's process types with the counts in force (a scale since the release included;
    # ``contracts.processes.processes_of``); empty: one web process from the image's CMD.
    processes: list[ProcessSpec] = []
    # Run once before any process of this release flips (ADR 0026); None: nothing to run.
    release_command: ReleaseCommand | None = None


class DesiredApp(msgspec.Struct, kw_only=True):
    app_id: str
    name: str
    hostname: str
    port: int
    subnet: str
    resources: Resources = msgspec.field(default_factory=Resources)
    health_path: str = "/"
    # The deploy gate uses its path, expected status and timeout; None: any 2xx/3xx on health_path.
    health_check: HealthCheck | None = None
    deleted: bool = False
    # The release that should be serving; None before the first deploy.
    release: DesiredRelease | None = None
    generation: int = 0
    # Images (digests where known) of the app's last releases: never pruned from the host.
    keep_images: list[str] = []


class GetDesired(Message, kw_only=True):
    app_id: str
    # The agent's X25519 public key (base64): environments in the reply are sealed to it.
    seal_to: str | None = None


class ListDesired(Message, kw_only=True):
    host: str
    seal_to: str | None = None


class DesiredReply(Message, kw_only=True):
    app: DesiredApp | None


class DesiredListReply(Message, kw_only=True):
    apps: list[DesiredApp]
