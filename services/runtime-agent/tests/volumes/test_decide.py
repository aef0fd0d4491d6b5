"""Volumes' pure decisions: image sizes, the commands and Docker bodies, and the plan that never
makes a filesystem twice (ADR 0028 §1). The image sizes are checked against real filesystems
in ``test_run_integration``."""

from __future__ import annotations

import json

import pytest
from berth_agent.volumes.decide import (
    MIB,
    HostVolumes,
    Loop,
    VolumePlan,
    attached,
    docker_name,
    image_bytes,
    image_path,
    link_path,
    mkfs_argv,
    mount_of,
    mounts_for,
    parse_loops,
    plan,
    stale_loops,
    usable_bytes,
    usable_estimate_mb,
    usage_worth_reporting,
    volume_create_body,
)
from berth_shared.contracts.volumes import DesiredVolume

DIR = "/home/b/volumes"


def volume(vid: str = "v1", *, provisioned: bool = False, processes: list[str] | None = None) -> DesiredVolume:
    return DesiredVolume(id=vid, name="data", docker_name=docker_name("i1", vid), size_mb=64,
                         image_bytes=image_bytes(64), mount_path=f"/{vid}", provisioned=provisioned,
                         processes=processes)  # fmt: skip


@pytest.mark.parametrize(
    ("image_mb", "measured_mb"),
    # f_bavail of real images made with mkfs_argv's options on this host (Debian 12, e2fsprogs 1.47).
    [(64, 57.66), (256, 230.59), (1024, 957.39), (10240, 9963.25)],
)
def test_the_usable_estimate_never_promises_more_than_a_real_filesystem(image_mb: int, measured_mb: float) -> None:
    estimate = usable_estimate_mb(image_mb)
    assert estimate <= measured_mb
    assert estimate >= measured_mb - 1 - measured_mb * 0.005  # and wastes little


@pytest.mark.parametrize("size_mb", [64, 65, 100, 1024, 1025, 10240, 102400])
def test_an_image_holds_its_size_with_a_small_overhead(size_mb: int) -> None:
    nbytes = image_bytes(size_mb)
    assert nbytes % MIB == 0
    assert usable_estimate_mb(nbytes // MIB) >= size_mb
    assert usable_estimate_mb(nbytes // MIB - 1) < size_mb  # the smallest such image
    assert nbytes <= size_mb * MIB * 1.14  # 64 MiB: 13 %; 1 GiB: 7 %; 100 GiB: 3 %


def test_paths_names_and_the_mkfs_options() -> None:
    assert image_path(DIR + "/", "v1") == "/home/b/volumes/v1.ext4"
    assert link_path("i1", "v1") == "/run/berth-i1/volumes/v1"
    argv = mkfs_argv("/x.ext4", "0123456789abcdef0123", 1000, 1000)
    assert argv[0] == "mkfs.ext4" and argv[-1] == "/x.ext4"
    assert "-m" in argv and argv[argv.index("-m") + 1] == "0"
    assert argv[argv.index("-E") + 1] == "nodiscard,root_owner=1000:1000"
    assert argv[argv.index("-L") + 1] == "0123456789abcdef"  # ext4 labels hold 16 bytes


def test_the_docker_volume_reaches_the_loop_device_through_the_link_and_mounts_never_bind() -> None:
    body = volume_create_body("i1", "app1", volume())
    assert body["Name"] == "berth-i1-v-v1" and body["Driver"] == "local"
    assert body["DriverOpts"] == {"type": "ext4", "device": "/run/berth-i1/volumes/v1", "o": "nodev,nosuid"}
    assert body["Labels"] == {"berth.managed": "true", "berth.instance": "i1", "berth.app": "app1",
                              "berth.volume": "v1", "berth.volume.name": "data"}  # fmt: skip
    mount = mount_of(volume())
    assert mount["Type"] == "volume" and mount["Source"] == "berth-i1-v-v1" and mount["Target"] == "/v1"
    assert mount["VolumeOptions"] == {"NoCopy": True}


def test_losetups_list_tells_attached_images_from_removed_ones() -> None:
    output = json.dumps({"loopdevices": [
        {"name": "/dev/loop0", "back-file": f"{DIR}/v1.ext4"},
        {"name": "/dev/loop1", "back-file": f"{DIR}/v2.ext4 (deleted)"},
        {"name": "/dev/loop2", "back-file": "/elsewhere/x.img (deleted)"},
    ]})  # fmt: skip
    loops = parse_loops(output)
    assert loops[1] == Loop(device="/dev/loop1", back_file=f"{DIR}/v2.ext4", deleted=True)
    assert attached(loops) == {f"{DIR}/v1.ext4": "/dev/loop0"}
    assert stale_loops(loops, DIR) == ["/dev/loop1"]  # someone else's device is not ours to detach
    assert parse_loops("") == []


def host(images: dict[str, int] | None = None, loops: dict[str, str] | None = None,
         links: dict[str, str] | None = None, dockers: tuple[str, ...] = ()) -> HostVolumes:  # fmt: skip
    return HostVolumes(images=images or {}, loops=loops or {}, links=links or {}, docker_volumes=dockers)


def test_a_new_volume_is_made_attached_linked_created_and_reported() -> None:
    assert plan(DIR, [volume()], host()) == [
        VolumePlan("v1", ("create_image", "attach", "link", "docker_volume", "report_provisioned"))
    ]


def test_a_provisioned_volume_without_its_image_is_reported_missing_never_made_empty() -> None:
    assert plan(DIR, [volume(provisioned=True)], host()) == [VolumePlan("v1", ("report_missing",))]


def test_an_image_that_exists_is_never_made_again_even_when_its_event_was_lost() -> None:
    ready = host({"v1": 1}, {f"{DIR}/v1.ext4": "/dev/loop3"}, {"v1": "/dev/loop3"}, ("berth-i1-v-v1",))
    assert plan(DIR, [volume()], ready) == [VolumePlan("v1", ("report_provisioned",))]
    assert plan(DIR, [volume(provisioned=True)], ready) == [VolumePlan("v1", ())]


def test_after_a_reboot_images_are_attached_and_linked_again() -> None:
    rebooted = host({"v1": 1}, dockers=("berth-i1-v-v1",))
    assert plan(DIR, [volume(provisioned=True)], rebooted) == [VolumePlan("v1", ("attach", "link"))]
    relinked = host({"v1": 1}, {f"{DIR}/v1.ext4": "/dev/loop3"}, {"v1": "/dev/loop0"})
    assert plan(DIR, [volume(provisioned=True)], relinked) == [VolumePlan("v1", ("link", "docker_volume"))]


def test_the_usable_space_is_read_from_the_superblock_less_what_ext4_keeps_back() -> None:
    # dumpe2fs -h of a fresh 64 MiB image; statvfs of it mounted said f_bavail 14760 x 4096.
    superblock = "Block count:              16384\nReserved block count:     0\nFree blocks:              15087\n"
    assert usable_bytes(superblock + "Block size:               4096\n") == 14760 * 4096


def test_each_container_mounts_the_volumes_naming_its_process_or_naming_none() -> None:
    volumes = [volume("all"), volume("web", processes=["web", "release"]), volume("jobs", processes=["cron", "run"])]
    assert [m["Target"] for m in mounts_for(volumes, "web")] == ["/all", "/web"]
    assert [m["Target"] for m in mounts_for(volumes, "release")] == ["/all", "/web"]
    assert [m["Target"] for m in mounts_for(volumes, "worker")] == ["/all"]
    assert [m["Target"] for m in mounts_for(volumes, "cron")] == ["/all", "/jobs"]
    assert all(m["Type"] == "volume" for m in mounts_for(volumes, "run"))


def test_usage_is_news_at_first_after_a_one_percent_move_and_across_the_90_and_99_percent_marks() -> None:
    usable = 1000
    assert usage_worth_reporting(None, 0, usable)
    assert not usage_worth_reporting(100, 109, usable) and usage_worth_reporting(100, 110, usable)
    assert not usage_worth_reporting(120, 111, usable) and usage_worth_reporting(120, 110, usable)
    assert usage_worth_reporting(895, 900, usable) and usage_worth_reporting(900, 899, usable)
    assert usage_worth_reporting(985, 990, usable) and not usage_worth_reporting(991, 999, usable)
