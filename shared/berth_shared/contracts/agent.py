"""Agent queries: is this host's runtime agent up, can it reach its Docker engine, how full are
its disks, which images does the host still have, and what does it hold for every app?

Subjects: ``berth.rpc.agent.<host>.status``, ``berth.rpc.agent.<host>.images`` and
``berth.rpc.agent.<host>.apps`` (core NATS request/reply; only the API asks).
"""

from __future__ import annotations

import msgspec

from berth_shared.contracts.base import Message


def agent_status_subject(host: str) -> str:
    return f"berth.rpc.agent.{host}.status"


class AgentStatusRequest(Message, kw_only=True):
    pass


def agent_images_subject(host: str) -> str:
    return f"berth.rpc.agent.{host}.images"


class DiskUsage(msgspec.Struct, kw_only=True):
    """One filesystem as ``df`` sees it: ``role`` is ``engine`` (the engine's data root) or
    ``home`` (``$BERTH_HOME``); percent used = used / (used + available)."""

    role: str
    path: str
    used_bytes: int
    available_bytes: int

    @property
    def used_percent(self) -> float:
        total = self.used_bytes + self.available_bytes
        return 100.0 * self.used_bytes / total if total else 0.0


class AgentStatus(Message, kw_only=True):
    host: str
    engine_ok: bool
    engine_error: str = ""
    containers: int = 0
    # The filesystems the agent watches (empty from an agent that does not measure them).
    disks: list[DiskUsage] = []


class ImagesQuery(Message, kw_only=True):
    """Which of ``refs`` (image ids or names) are on the host?"""

    refs: list[str]


class ImagesPresence(Message, kw_only=True):
    present: list[str] = []
    missing: list[str] = []


def agent_apps_subject(host: str) -> str:
    """``berth.rpc.agent.<host>.apps``: what the agent holds for every app, for the API's resync
    (ADR 0018). Only the API asks."""
    return f"berth.rpc.agent.{host}.apps"


class AgentAppsQuery(Message, kw_only=True):
    # Who asks (for the agent's log only).
    requester: str = ""


class HeldContainer(msgspec.Struct, kw_only=True):
    """One container of an app on the host, as its labels and the engine say."""

    release_id: str
    slot: str
    container_id: str
    # The engine's image id (``sha256:…``) the container runs.
    image_id: str = ""
    running: bool = False
    # ADR 0026: its process type and instance, the run it belongs to, its address on the app network.
    process: str = "web"
    index: int = 0
    run_id: str = ""
    address: str = ""


class HeldApp(msgspec.Struct, kw_only=True):
    """What the agent holds and remembers for one app (its memory is lost when it restarts)."""

    app_id: str
    containers: list[HeldContainer] = []
    # The app has a network on the host.
    network: bool = False
    # The release this agent process made (or restored as) live, when it remembers one.
    live_release: str | None = None
    # Releases this agent process reported failed.
    failed_releases: list[str] = []
    # This agent process removed the app's containers and network after its deletion.
    cleaned_up: bool = False


class AgentApps(Message, kw_only=True):
    """Every app the agent holds containers or a network for, or remembers; read after the
    asker read its own state (``at`` is when the agent started reading)."""

    host: str
    apps: list[HeldApp] = []
