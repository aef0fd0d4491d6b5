"""Volumes as berth.toml and the API state them: each problem is named by its path, in the
spelling the user wrote (ADR 0028 §1)."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from berth_api.volume_config import VolumeSpec, normalised_mount_path, parse_volume, parse_volumes
from berth_shared.errors import ValidationFailed

TYPES = ("web", "worker")

TOML = """
[[volumes]]
name = "data"
mount_path = "/data/"
size_mb = 2048
processes = ["web", "worker", "release"]
[[volumes]]
name = "uploads"
mount_path = "/srv//uploads/./media"
"""


def problems(call: Any, *args: Any, **kwargs: Any) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as err:
        call(*args, **kwargs)
    assert err.value.http_status == 422
    return {d.field: d.message for d in err.value.details}


def test_berth_toml_volumes_are_normalised_with_defaults() -> None:
    volumes = parse_volumes(tomllib.loads(TOML)["volumes"], process_types=TYPES)
    assert volumes == [
        VolumeSpec(name="data", mount_path="/data", size_mb=2048, processes=["web", "worker", "release"]),
        VolumeSpec(name="uploads", mount_path="/srv/uploads/media", size_mb=1024, processes=None),
    ]


def test_the_api_spells_keys_in_camel_case_and_names_each_bad_field() -> None:
    spec = parse_volume({"name": "db", "mountPath": "/var/lib/db", "sizeMb": 64}, style="json", process_types=TYPES)
    assert spec == VolumeSpec(name="db", mount_path="/var/lib/db", size_mb=64)
    found = problems(
        parse_volume,
        {"name": "Data", "mountPath": "data", "sizeMb": 63, "processes": ["web", "beat"], "size_mb": 100},
        style="json",
        process_types=TYPES,
    )
    assert set(found) == {"name", "mountPath", "sizeMb", "processes", "size_mb"}
    assert found["mountPath"] == "must be an absolute path (starting with /)"
    assert found["sizeMb"] == "must be between 64 and 102400"
    assert found["processes"].startswith("not a process of this app: beat (it has web, worker;")
    assert found["size_mb"].startswith("unknown setting; known: mountPath, name, processes, sizeMb")


def test_toml_problems_name_the_file_and_the_volumes_index() -> None:
    raw = [{"name": "a", "mount_path": "/a"}, {"name": "b", "mountPath": "/b", "size_mb": True}]
    found = problems(parse_volumes, raw, process_types=TYPES)
    assert found == {
        "berth.toml: volumes[1].mountPath": "unknown setting; known: mount_path, name, processes, size_mb",
        "berth.toml: volumes[1].mount_path": "required",
        "berth.toml: volumes[1].size_mb": "must be a whole number",
    }
    assert problems(parse_volumes, {"name": "a"}, process_types=TYPES) == {
        "berth.toml: volumes": "must be a list of volumes ([[volumes]] tables)"
    }


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/", "must not be / (the container's root filesystem)"),
        ("/./", "must not be / (the container's root filesystem)"),
        ("/proc", "must not be /proc or under it"),
        ("/sys/fs/cgroup", "must not be /sys or under it"),
        ("//dev/shm", "must not be /dev or under it"),
        ("/run/secrets/x", "must not be /run/secrets or under it"),
        ("/etc/resolv.conf", "must not be /etc/resolv.conf (the engine writes it)"),
        ("/etc/hosts/", "must not be /etc/hosts (the engine writes it)"),
        ("/data/../etc", "must not contain '..'"),
        ("/da\nta", "must not contain control characters"),
        ("/" + "x" * 1024, "is longer than 1024 characters"),
        (7, "must be a string"),
    ],
)
def test_mount_paths_that_would_hide_what_a_container_needs_are_refused(path: Any, why: str) -> None:
    assert normalised_mount_path(path) == (None, why)


def test_paths_that_only_share_a_prefix_are_allowed() -> None:
    assert normalised_mount_path("/procfs") == ("/procfs", "")
    assert normalised_mount_path("/etc/hosts.d") == ("/etc/hosts.d", "")
    assert normalised_mount_path("/run/secretsx") == ("/run/secretsx", "")


def test_a_volume_cannot_share_nest_in_or_contain_another_nor_reuse_its_name() -> None:
    others = {"data": "/data", "cache": "/srv/cache"}
    found = problems(parse_volume, {"name": "data", "mountPath": "/srv"}, style="json", process_types=TYPES,
                     others=others)  # fmt: skip
    assert found == {
        "name": "another volume of this app is named 'data'",
        "mountPath": "contains volume 'cache''s mount path /srv/cache",
    }
    found = problems(parse_volume, {"name": "x", "mountPath": "/data/x"}, style="json", process_types=TYPES,
                     others=others)  # fmt: skip
    assert found == {"mountPath": "is inside volume 'data''s mount path /data"}
    raw = [{"name": "a", "mount_path": "/a"}, {"name": "a", "mount_path": "/a/"}]
    assert problems(parse_volumes, raw, process_types=TYPES) == {
        "berth.toml: volumes[1].name": "another volume of this app is named 'a'",
        "berth.toml: volumes[1].mount_path": "volume 'a' is mounted there already",
    }
    assert parse_volume({"name": "d2", "mountPath": "/data2"}, style="json", process_types=TYPES, others=others)


def test_at_most_four_volumes_and_sizes_up_to_the_configured_maximum() -> None:
    four = {f"v{i}": f"/v{i}" for i in range(4)}
    assert problems(parse_volume, {"name": "e", "mountPath": "/e"}, style="json", process_types=TYPES,
                    others=four) == {"name": "an app has at most 4 volumes"}  # fmt: skip
    five = [{"name": f"v{i}", "mount_path": f"/v{i}"} for i in range(5)]
    assert problems(parse_volumes, five, process_types=TYPES) == {"berth.toml: volumes": "an app has at most 4 volumes"}
    big = {"name": "big", "mountPath": "/big", "sizeMb": 2048}
    assert problems(parse_volume, big, style="json", process_types=TYPES, max_mb=1024) == {
        "sizeMb": "must be between 64 and 1024"
    }


def test_processes_must_be_a_list_of_names_and_repeats_collapse() -> None:
    assert problems(parse_volume, {"name": "d", "mountPath": "/d", "processes": []}, style="json",
                    process_types=TYPES) == {"processes": "must be a non-empty list of process type names"}  # fmt: skip
    spec = parse_volume({"name": "d", "mountPath": "/d", "processes": ["cron", "web", "cron"]}, style="json",
                        process_types=TYPES)  # fmt: skip
    assert spec.processes == ["cron", "web"]
