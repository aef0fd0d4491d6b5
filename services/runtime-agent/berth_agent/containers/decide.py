"""Pure builders of the Docker create configs for an app's network and its slot containers.

Design §6 security rules are applied here and nowhere relaxed: nothing in a DesiredApp
or DesiredRelease can turn them off.
"""

from __future__ import annotations

from typing import Any

from berth_shared import labels
from berth_shared.contracts.desired import DesiredApp, DesiredRelease, Resources
from berth_shared.contracts.processes import ProcessSpec
from berth_shared.netplan import Slot, gateway_address, slot_address

# The engine's log ring. Docker 20.10's follower, when it falls more than one file behind,
# reopens the newest file and silently skips the ones between: the file size is how far the
# collector may lag (an app flooding at the engine's ~180,000 lines/s), the count only how much
# a restarted agent can catch up on. 2 x 50 MB: at most 100 MB per container (ADR 0006).
LOG_MAX_SIZE = "50m"
LOG_MAX_FILE = "2"
PLATFORM_ENV_KEYS = frozenset({"PORT", "BERTH_APP", "BERTH_RELEASE", "BERTH_HOSTNAME"})


def network_name(instance: str, app_id: str) -> str:
    return f"berth-{instance}-{app_id[:12]}"


def container_name(instance: str, app_name: str, slot: Slot, release_id: str) -> str:
    return f"berth-{instance}-{app_name}-{slot}-{release_id[:8]}"


def app_labels(app: DesiredApp, instance: str) -> dict[str, str]:
    return {
        labels.MANAGED: "true",
        labels.INSTANCE: instance,
        labels.APP: app.app_id,
        labels.APP_NAME: app.name,
    }


def container_labels(app: DesiredApp, release: DesiredRelease, slot: Slot, instance: str) -> dict[str, str]:
    return {**app_labels(app, instance), labels.RELEASE: release.release_id, labels.SLOT: slot}


def container_env(app: DesiredApp, release: DesiredRelease) -> list[str]:
    """The release's env plus the platform's variables, which always win."""
    platform = {
        "PORT": str(app.port),
        "BERTH_APP": app.name,
        "BERTH_RELEASE": release.release_id,
        "BERTH_HOSTNAME": app.hostname,
    }
    merged = {k: v for k, v in release.env.items() if k not in PLATFORM_ENV_KEYS} | platform
    return [f"{key}={value}" for key, value in sorted(merged.items())]


def limits(resources: Resources) -> dict[str, int]:
    memory = resources.memory_mb * 1024 * 1024
    return {
        "Memory": memory,
        "MemorySwap": memory,  # no swap on top of the memory limit
        "NanoCpus": round(resources.cpus * 1_000_000_000),
        "PidsLimit": resources.pids,
    }


def host_config(app: DesiredApp, instance: str) -> dict[str, Any]:
    return {
        "Privileged": False,
        # tini as PID 1: forwards SIGTERM to the app (a PID 1 ignores it by default) and reaps zombies.
        "Init": True,
        "CapDrop": ["ALL"],
        "CapAdd": [],
        "SecurityOpt": ["no-new-privileges:true"],
        **limits(app.resources),
        "Binds": [],
        "Mounts": [],
        "Devices": [],
        "PortBindings": {},
        "PublishAllPorts": False,
        "NetworkMode": network_name(instance, app.app_id),
        "IpcMode": "private",
        "PidMode": "",
        "UTSMode": "",
        "ReadonlyRootfs": False,
        "RestartPolicy": {"Name": "no"},  # the agent restarts with backoff and gives up
        "LogConfig": {"Type": "json-file", "Config": {"max-size": LOG_MAX_SIZE, "max-file": LOG_MAX_FILE}},
    }


def container_config(app: DesiredApp, release: DesiredRelease, slot: Slot, instance: str) -> dict[str, Any]:
    """The body of ``POST /containers/create`` for ``release`` of ``app`` in ``slot``."""
    network = network_name(instance, app.app_id)
    return {
        "Image": release.image,
        "Env": container_env(app, release),
        "Labels": container_labels(app, release, slot, instance),
        "Hostname": f"{app.name}-{slot}"[:63],
        "StopTimeout": release.stop_timeout_seconds,
        "HostConfig": host_config(app, instance),
        "NetworkingConfig": {
            "EndpointsConfig": {network: {"IPAMConfig": {"IPv4Address": slot_address(app.subnet, slot)}}}
        },
    }


def instance_name(instance: str, app_name: str, slot: Slot, release_id: str, *, process: str, index: int) -> str:
    """Web instance 0 keeps the name it had before issue 17; every other instance names itself."""
    if (process, index) == ("web", 0):
        return container_name(instance, app_name, slot, release_id)
    return f"berth-{instance}-{app_name}-{process}-{index}-{release_id[:8]}"


def process_resources(app: DesiredApp, spec: ProcessSpec) -> Resources:
    """The app's resources with the process type's own memory/CPU where it states them."""
    return Resources(
        memory_mb=spec.memory_mb if spec.memory_mb is not None else app.resources.memory_mb,
        cpus=spec.cpus if spec.cpus is not None else app.resources.cpus,
        pids=app.resources.pids,
    )


def instance_config(
    app: DesiredApp, release: DesiredRelease, slot: Slot, instance: str, *, spec: ProcessSpec, index: int, address: str
) -> dict[str, Any]:
    """The create body of one instance of a process type (ADR 0026 §1): the web container's
    config (same hardened host config, env and image) with the process's command (none: the
    image's CMD), resources, identity labels and ``address`` (the slot's fixed one for web 0)."""
    body = container_config(app, release, slot, instance)
    network = network_name(instance, app.app_id)
    body["Labels"] |= {labels.PROCESS: spec.name, labels.INDEX: str(index), labels.ADDRESS: address}
    body["Hostname"] = f"{app.name}-{slot}" if (spec.name, index) == ("web", 0) else f"{app.name}-{spec.name}-{index}"
    body["Hostname"] = body["Hostname"][:63]
    if spec.command:
        body["Cmd"] = list(spec.command)
    body["HostConfig"] |= limits(process_resources(app, spec))
    body["NetworkingConfig"] = {"EndpointsConfig": {network: {"IPAMConfig": {"IPv4Address": address}}}}
    return body


def one_off_config(
    app: DesiredApp, release: DesiredRelease, instance: str, *, process: str, command: list[str], address: str
) -> dict[str, Any]:
    """A one-off container of the release (the release command, ADR 0026 §3): the same hardened
    host config, image and env as the release's processes, ``command`` as its argv, no slot, its
    output attached, at a picked address."""
    network = network_name(instance, app.app_id)
    return {
        "Image": release.image,
        "Env": container_env(app, release),
        "Cmd": list(command),
        "Labels": {
            **app_labels(app, instance),
            labels.RELEASE: release.release_id,
            labels.PROCESS: process,
            labels.ADDRESS: address,
        },
        "Hostname": f"{app.name}-{process}"[:63],
        "StopTimeout": release.stop_timeout_seconds,
        "AttachStdout": True,
        "AttachStderr": True,
        "HostConfig": host_config(app, instance),
        "NetworkingConfig": {"EndpointsConfig": {network: {"IPAMConfig": {"IPv4Address": address}}}},
    }


# The kernel asks again for a neighbour that did not answer every second (ARP ``retrans_time``):
# a slot dialled before its container was up (the proxy's fallback during a first deploy) held
# the deploy gate's first probe for up to a second after the container started (measured: p50
# +0.78 s on first deploys with requests arriving). On an app's bridge it asks every 100 ms.
NEIGHBOUR_RETRANS_MS = 100


def neighbour_retrans_setting(network_id: str) -> tuple[str, str]:
    """The sysctl file of the app bridge Docker made for ``network_id`` (``br-<id[:12]>``) that sets
    how often the host re-asks for an unresolved slot address, and its value."""
    return f"/proc/sys/net/ipv4/neigh/br-{network_id[:12]}/retrans_time_ms", str(NEIGHBOUR_RETRANS_MS)


def network_config(app: DesiredApp, instance: str) -> dict[str, Any]:
    """The body of ``POST /networks/create``: the app's own bridge on its fixed /28."""
    return {
        "Name": network_name(instance, app.app_id),
        "Driver": "bridge",
        "CheckDuplicate": True,
        "Attachable": False,
        "Internal": False,
        "Labels": app_labels(app, instance),
        "IPAM": {
            "Driver": "default",
            "Config": [{"Subnet": app.subnet, "Gateway": gateway_address(app.subnet)}],
        },
    }
