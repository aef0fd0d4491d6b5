"""Disk watermarks decided on plain numbers."""

from __future__ import annotations

import pytest
from berth_shared.contracts.agent import DiskUsage
from berth_shared.disk import Watermarks, describe, measure, over, refusal
from berth_shared.errors import DiskFull
from berth_shared.settings import Settings

MIB = 1024 * 1024


def usage(role: str, percent: int, total_mib: int = 1000) -> DiskUsage:
    used = total_mib * MIB * percent // 100
    return DiskUsage(role=role, path=f"/{role}", used_bytes=used, available_bytes=total_mib * MIB - used)


@pytest.mark.parametrize(
    ("engine", "home", "refused_by"),
    [
        (50, 50, None),
        (94, 94, None),  # past the prune mark only: deploys still go
        (95, 10, "engine"),
        (10, 97, "home"),
        (96, 99, "home"),  # the fullest is named
    ],
)
def test_refusal_names_the_fullest_disk_past_the_mark(engine: int, home: int, refused_by: str | None) -> None:
    error = refusal([usage("engine", engine), usage("home", home)], Watermarks(90, 95), "deploy")
    if refused_by is None:
        assert error is None
        return
    assert isinstance(error, DiskFull) and error.code == "disk_full" and error.http_status == 507
    assert error.message.startswith("deploy refused: ")
    assert f"/{refused_by} is " in error.message and "95% watermark" in error.message


def test_over_the_prune_mark_fullest_first() -> None:
    disks = [usage("engine", 91), usage("home", 93), usage("other", 89)]
    assert [d.role for d in over(disks, 90)] == ["home", "engine"]


def test_describe_says_which_disk_and_how_much_is_free() -> None:
    assert describe(usage("home", 96)) == "$BERTH_HOME /home is 96% full (40 MiB free)"
    assert describe(usage("engine", 50)).startswith("the Docker engine's data root /engine is 50% full")


def test_an_empty_filesystem_is_zero_percent() -> None:
    assert DiskUsage(role="home", path="/", used_bytes=0, available_bytes=0).used_percent == 0.0


def test_measure_reads_this_filesystem(tmp_path: object) -> None:
    measured = measure("home", str(tmp_path))
    assert measured.used_bytes > 0 and 0 < measured.used_percent < 100


def test_watermark_settings() -> None:
    s = Settings.from_env({"BERTH_DISK_PRUNE_PERCENT": "50", "BERTH_DISK_REFUSE_PERCENT": "60"})
    assert (s.disk_prune_percent, s.disk_refuse_percent, s.disk_check_seconds) == (50, 60, 30)
    assert (Settings.from_env({}).disk_prune_percent, Settings.from_env({}).disk_refuse_percent) == (90, 95)
