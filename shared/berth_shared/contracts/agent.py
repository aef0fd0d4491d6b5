"""Agent status query: is this host's runtime agent up, and can it reach its Docker engine?

Subject: ``berth.rpc.agent.<host>.status`` (core NATS request/reply).
"""

from __future__ import annotations

from berth_shared.contracts.base import Message


def agent_status_subject(host: str) -> str:
    return f"berth.rpc.agent.{host}.status"


class AgentStatusRequest(Message, kw_only=True):
    pass


class AgentStatus(Message, kw_only=True):
    host: str
    engine_ok: bool
    engine_error: str = ""
    containers: int = 0
