"""Actual state is a label query: the containers and networks carrying this instance's labels."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiodocker
from berth_shared import labels
from berth_shared.contracts.processes import WEB
from berth_shared.netplan import SLOTS

from berth_agent.state import ActualState, ObservedContainer, ObservedNetwork


def label_filters(instance: str, app_id: str | None = None) -> list[str]:
    selected = labels.instance_filter(instance)
    return [*selected, f"{labels.APP}={app_id}"] if app_id else selected


def docker_time(value: str | None) -> float:
    """Docker's RFC 3339 timestamps (nanoseconds, ``Z``) as epoch seconds; 0 for "never"."""
    if not value or value.startswith("0001-"):
        return 0.0
    text = value.rstrip("Z")
    if "." in text:
        whole, fraction = text.split(".", 1)
        text = f"{whole}.{fraction[:6]}"
    return datetime.fromisoformat(f"{text}+00:00").timestamp()


def parse_container(inspect: dict[str, Any]) -> ObservedContainer | None:
    """An inspected container as the planner sees it; None when its labels are incomplete."""
    found = inspect.get("Config", {}).get("Labels") or {}
    process = found.get(labels.PROCESS) or WEB
    # Only web instances sit in a slot; other containers may say none (the planner ignores it).
    slot = found.get(labels.SLOT) or (None if process == WEB else SLOTS[0])
    app_id = found.get(labels.APP)
    release_id = found.get(labels.RELEASE) or ""
    run_id = found.get(labels.RUN, "")
    # A one-off run may belong to no release; every other container names its release.
    if slot not in SLOTS or not app_id or not (release_id or run_id):
        return None
    state = inspect.get("State", {})
    return ObservedContainer(
        container_id=inspect["Id"],
        name=inspect.get("Name", "").lstrip("/"),
        app_id=app_id,
        release_id=release_id,
        slot=slot,
        state=state.get("Status", "unknown"),
        exit_code=int(state.get("ExitCode") or 0),
        finished_at=docker_time(state.get("FinishedAt")),
        oom_killed=bool(state.get("OOMKilled")),
        port=env_port(inspect.get("Config", {}).get("Env") or []),
        process=process,
        index=int(index) if (index := found.get(labels.INDEX, "0")).isdigit() else 0,
        address=found.get(labels.ADDRESS, ""),
        run_id=run_id,
    )


def env_port(env: list[str]) -> int:
    for entry in env:
        key, _, value = entry.partition("=")
        if key == "PORT" and value.isdigit():
            return int(value)
    return 0


def parse_network(listed: dict[str, Any]) -> ObservedNetwork | None:
    app_id = (listed.get("Labels") or {}).get(labels.APP)
    if not app_id:
        return None
    return ObservedNetwork(network_id=listed["Id"], name=listed["Name"], app_id=app_id)


async def inspect_containers(docker: aiodocker.Docker, filters: list[str]) -> list[dict[str, Any]]:
    listed = await docker.containers.list(all=True, filters=json.dumps({"label": filters}))
    inspected = []
    for container in listed:
        try:
            inspected.append(await docker.containers.container(container.id).show())
        except aiodocker.DockerError as exc:
            if exc.status != 404:  # removed between the list and the inspect
                raise
    return inspected


async def observe(docker: aiodocker.Docker, instance: str, app_id: str | None = None) -> ActualState:
    """Every container and network of this instance (of one app when ``app_id`` is given)."""
    filters = label_filters(instance, app_id)
    containers = [parse_container(c) for c in await inspect_containers(docker, filters)]
    networks = [parse_network(n) for n in await docker.networks.list(filters={"label": filters})]
    return ActualState(
        containers=tuple(c for c in containers if c is not None),
        networks=tuple(n for n in networks if n is not None),
    )


async def count_containers(docker: aiodocker.Docker, instance: str) -> int:
    listed = await docker.containers.list(all=True, filters=json.dumps({"label": label_filters(instance)}))
    return len(listed)
