"""Each process's instances as the runtime agent holds them (ADR 0026): which containers of an
app run its processes, at which address, in which slot, for which release. Pure: the route asks
the agent (``berth.rpc.agent.<host>.apps``) and hands its answer here."""

from __future__ import annotations

from typing import Any

from berth_shared.contracts.agent import AgentApps, HeldContainer
from berth_shared.contracts.processes import RELEASE


def _instance(c: HeldContainer, live_release_id: str | None) -> dict[str, Any]:
    return {
        "index": c.index,
        "running": c.running,
        "address": c.address or None,
        "slot": c.slot,
        "containerId": c.container_id[:12],
        "releaseId": c.release_id,
        "live": c.release_id == live_release_id,
    }


def instances_by_process(held: AgentApps, app_id: str, live_release_id: str | None) -> dict[str, list[dict[str, Any]]]:
    """The app's process containers by process name, each list by instance index with the live
    release's first (an old release's instance still draining after it); one-off and cron runs
    and release commands are not instances of a process."""
    out: dict[str, list[dict[str, Any]]] = {}
    for app in held.apps:
        if app.app_id != app_id:
            continue
        for c in app.containers:
            if c.run_id or c.process == RELEASE:
                continue
            out.setdefault(c.process, []).append(_instance(c, live_release_id))
    for instances in out.values():
        instances.sort(key=lambda i: (i["index"], not i["live"], i["releaseId"]))
    return out
