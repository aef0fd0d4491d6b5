"""Agent queries: is this host's runtime agent up, can it reach its Docker engine, how full are
its disks, and which images does the host still have?

Subjects: ``berth.rpc.agent.<host>.status`` and ``berth.rpc.agent.<host>.images`` (core NATS
request/reply).
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
