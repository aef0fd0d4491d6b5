"""Where build steps run, the pure part (no I/O; mypy strict): the build network and the cgroup
parent that bounds every ``RUN`` container of the instance's builds.

The engine's classic builder (Docker 20.10's ``POST /build``) has no capability or pids option,
and refuses ``securityopt`` on Linux. It does take ``networkmode`` and ``cgroupparent``:

- ``networkmode`` = the instance's build network (``berth_shared.build_network``), a bridge the
  launcher's egress chain covers by interface, with inter-container traffic off, so build steps
  reach the internet (pip, npm) under the same rules as apps, and Docker's embedded DNS;
- ``cgroupparent`` = a cgroup the agent creates with a ``pids`` limit, so a fork bomb in a build
  step hits that limit (``can't fork``) instead of the host's; the per-step memory and CPU limits
  stay on the step's own container (``memory``/``cpuquota``), the parent adds a memory ceiling
  for all of the instance's builds together.

``RUN`` steps keep Docker's default (unprivileged) capability set and seccomp profile: no
``SYS_ADMIN`` (no ``mount``), no ``NET_ADMIN`` (no interface changes), device nodes they create
cannot be opened (the device cgroup); the classic builder has no way to run a step privileged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from berth_shared import build_network, labels

CGROUP_ROOT = "/sys/fs/cgroup"
BUILD_PIDS_MAX = 512  # processes (threads) of all of an instance's build steps together
BUILD_MEMORY_MAX_BYTES = 4 * 1024 * 1024 * 1024  # all of an instance's build steps together
SYSTEMD_UNIT_DIR = "/run/systemd/system"


@dataclass(frozen=True)
class CgroupSetup:
    """What to create before a build: directories, then ``(file, value)`` writes in order, or a
    systemd slice unit (``unit_path``/``unit_text``) when the engine uses the systemd driver."""

    parent: str  # the ``cgroupparent`` the build query names
    directories: tuple[str, ...] = ()
    writes: tuple[tuple[str, str], ...] = ()
    unit_path: str = ""
    unit_text: str = ""


class UnsupportedCgroups(Exception):
    pass


def cgroup_setup(instance: str, driver: str, version: str) -> CgroupSetup:
    """The cgroup parent of the instance's builds for the engine's cgroup ``driver``
    (``docker info``: ``cgroupfs``/``systemd``) and ``version`` (``1``/``2``)."""
    pids = str(BUILD_PIDS_MAX)
    memory = str(BUILD_MEMORY_MAX_BYTES)
    if driver == "systemd":
        # Dashes nest slices: berth.slice/berth-build.slice/berth-build-<instance>.slice.
        name = f"berth-build-{instance}.slice"
        text = (
            f"[Unit]\nDescription=Berth builds of instance {instance}\n\n[Slice]\nTasksMax={pids}\nMemoryMax={memory}\n"
        )
        return CgroupSetup(parent=name, unit_path=f"{SYSTEMD_UNIT_DIR}/{name}", unit_text=text)
    if driver != "cgroupfs":
        raise UnsupportedCgroups(f"unknown cgroup driver {driver!r}")
    name = f"berth-build-{instance}"
    if version == "2":
        path = f"{CGROUP_ROOT}/{name}"
        return CgroupSetup(
            parent=f"/{name}",
            directories=(path,),
            writes=(
                (f"{CGROUP_ROOT}/cgroup.subtree_control", "+pids +memory"),
                (f"{path}/pids.max", pids),
                (f"{path}/memory.max", memory),
            ),
        )
    pids_dir, memory_dir = f"{CGROUP_ROOT}/pids/{name}", f"{CGROUP_ROOT}/memory/{name}"
    return CgroupSetup(
        parent=f"/{name}",
        directories=(pids_dir, memory_dir),
        writes=((f"{pids_dir}/pids.max", pids), (f"{memory_dir}/memory.limit_in_bytes", memory)),
    )


def network_config(instance: str) -> dict[str, Any]:
    """The body of ``POST /networks/create`` for the instance's build network."""
    return {
        "Name": build_network.network_name(instance),
        "Driver": "bridge",
        "CheckDuplicate": True,
        "Attachable": False,
        "Internal": False,
        "Options": {
            "com.docker.network.bridge.name": build_network.bridge_name(instance),
            # Two builds running at once never talk to each other.
            "com.docker.network.bridge.enable_icc": "false",
        },
        "Labels": {labels.MANAGED: "true", labels.INSTANCE: instance},
    }


def isolation_params(network: str, cgroup_parent: str) -> dict[str, str]:
    """The ``POST /build`` query parameters that place every ``RUN`` step."""
    return {"networkmode": network, "cgroupparent": cgroup_parent}
