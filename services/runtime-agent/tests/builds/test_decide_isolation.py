"""Where build steps run, as data: the build network and the cgroup parent with its limits."""

from __future__ import annotations

import pytest
from berth_agent.builds import decide_isolation as build_isolation
from berth_agent.builds.decide_isolation import BUILD_MEMORY_MAX_BYTES, BUILD_PIDS_MAX


def test_cgroupfs_v1_limits_processes_and_memory_of_all_build_steps() -> None:
    setup = build_isolation.cgroup_setup("ab12cd34", "cgroupfs", "1")
    assert setup.parent == "/berth-build-ab12cd34"
    assert setup.directories == (
        "/sys/fs/cgroup/pids/berth-build-ab12cd34",
        "/sys/fs/cgroup/memory/berth-build-ab12cd34",
    )
    assert setup.writes == (
        ("/sys/fs/cgroup/pids/berth-build-ab12cd34/pids.max", str(BUILD_PIDS_MAX)),
        ("/sys/fs/cgroup/memory/berth-build-ab12cd34/memory.limit_in_bytes", str(BUILD_MEMORY_MAX_BYTES)),
    )


def test_cgroupfs_v2_enables_the_controllers_before_writing_the_limits() -> None:
    setup = build_isolation.cgroup_setup("ab12cd34", "cgroupfs", "2")
    assert setup.parent == "/berth-build-ab12cd34"
    assert setup.directories == ("/sys/fs/cgroup/berth-build-ab12cd34",)
    files = [path for path, _ in setup.writes]
    assert files[0] == "/sys/fs/cgroup/cgroup.subtree_control"
    assert dict(setup.writes)["/sys/fs/cgroup/berth-build-ab12cd34/pids.max"] == str(BUILD_PIDS_MAX)
    assert dict(setup.writes)["/sys/fs/cgroup/berth-build-ab12cd34/memory.max"] == str(BUILD_MEMORY_MAX_BYTES)


def test_systemd_driver_gets_a_slice_with_the_same_limits() -> None:
    setup = build_isolation.cgroup_setup("ab12cd34", "systemd", "2")
    assert setup.parent == "berth-build-ab12cd34.slice"
    assert setup.unit_path == "/run/systemd/system/berth-build-ab12cd34.slice"
    assert f"TasksMax={BUILD_PIDS_MAX}\n" in setup.unit_text
    assert f"MemoryMax={BUILD_MEMORY_MAX_BYTES}\n" in setup.unit_text
    assert setup.directories == () and setup.writes == ()


def test_an_unknown_driver_is_refused_rather_than_building_unbounded() -> None:
    with pytest.raises(build_isolation.UnsupportedCgroups):
        build_isolation.cgroup_setup("ab12cd34", "", "1")


def test_build_network_has_the_bridge_the_egress_chain_matches_and_no_icc() -> None:
    config = build_isolation.network_config("ab12cd34")
    assert config["Name"] == "berth-ab12cd34-build"
    assert config["Options"]["com.docker.network.bridge.name"] == "berthb-ab12cd34"
    assert config["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    assert config["Labels"] == {"berth.managed": "true", "berth.instance": "ab12cd34"}
    assert "berth.app" not in config["Labels"]  # never mistaken for an app's network
