"""Asks this host's runtime agent whether it can reach the Docker engine before accepting work."""

from __future__ import annotations

from berth_shared.contracts.agent import AgentStatus, AgentStatusRequest, agent_status_subject
from berth_shared.errors import EngineUnavailable
from nats.aio.client import Client

from berth_api import rpc


async def require_engine(nc: Client, host: str) -> AgentStatus | None:
    """Raise EngineUnavailable when the agent says Docker is unreachable. If the agent itself
    does not answer (restarting), the work is accepted: it waits on the bus until it is back.
    Returns the agent's status (None when it did not answer)."""
    status = await rpc.ask_if_answered(
        nc, agent_status_subject(host), AgentStatusRequest(), AgentStatus, service=rpc.AGENT, timeout=1.5
    )
    if status is not None and not status.engine_ok:
        raise EngineUnavailable(
            f"the Docker engine on host {host!r} is unreachable ({status.engine_error or 'no answer'}); "
            "nothing was changed — start Docker and try again"
        )
    return status
