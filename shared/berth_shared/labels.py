"""Container labels: identity lives on the container; actual state is a label query."""

from __future__ import annotations

MANAGED = "berth.managed"
INSTANCE = "berth.instance"
APP = "berth.app"
APP_NAME = "berth.app.name"
RELEASE = "berth.release"
SLOT = "berth.slot"
# ADR 0026: the process type (``web`` when absent: containers from before issue 17), the instance
# of that type, the one-off run a container belongs to, and the address the agent picked for it.
PROCESS = "berth.process"
INDEX = "berth.index"
RUN = "berth.run"
ADDRESS = "berth.address"


def instance_filter(instance: str) -> list[str]:
    """Docker label filters selecting every container of one Berth installation."""
    return [f"{MANAGED}=true", f"{INSTANCE}={instance}"]
