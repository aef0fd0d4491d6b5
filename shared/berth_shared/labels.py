"""Container labels: identity lives on the container; actual state is a label query."""

from __future__ import annotations

MANAGED = "berth.managed"
INSTANCE = "berth.instance"
APP = "berth.app"
APP_NAME = "berth.app.name"
RELEASE = "berth.release"
SLOT = "berth.slot"


def instance_filter(instance: str) -> list[str]:
    """Docker label filters selecting every container of one Berth installation."""
    return [f"{MANAGED}=true", f"{INSTANCE}={instance}"]
