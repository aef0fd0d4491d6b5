"""A release's formation: web first (implied when not named), counts changed by a scale."""

from __future__ import annotations

from berth_shared.contracts.base import decode, encode
from berth_shared.contracts.processes import (
    DEFAULT_WEB,
    CronJob,
    Formation,
    ProcessSpec,
    ReleaseCommand,
    counts_of,
    processes_of,
    with_counts,
)


def test_a_release_without_a_formation_runs_one_web_process_from_the_image() -> None:
    assert processes_of(None) == [DEFAULT_WEB]
    assert counts_of(Formation()) == {"web": 1}
    assert DEFAULT_WEB.command == [] and DEFAULT_WEB.count == 1


def test_web_comes_first_then_the_others_by_name() -> None:
    formation = Formation(
        processes=[ProcessSpec(name="worker", command=["python", "w.py"]), ProcessSpec(name="beat", command=["b"])]
    )
    assert [p.name for p in processes_of(formation)] == ["web", "beat", "worker"]
    assert counts_of(formation) == {"web": 1, "beat": 1, "worker": 1}


def test_a_scale_changes_counts_and_keeps_everything_else() -> None:
    formation = Formation(
        processes=[ProcessSpec(name="web", count=2), ProcessSpec(name="worker", command=["w"], memory_mb=128)],
        release_command=ReleaseCommand(command=["migrate"]),
    )
    scaled = with_counts(formation, {"worker": 3, "ghost": 1})
    assert counts_of(scaled) == {"web": 2, "worker": 3}
    assert processes_of(scaled)[1].memory_mb == 128 and scaled.release_command == formation.release_command


def test_a_formation_round_trips_and_fills_defaults() -> None:
    formation = Formation(cron=[CronJob(name="nightly", schedule="@daily", command=["report"])])
    back = decode(encode(formation), Formation)
    assert back == formation
    job = decode(b'{"cron":[{"name":"n","schedule":"@hourly","command":["x"]}]}', Formation).cron[0]
    assert (job.timezone, job.concurrency, job.catch_up, job.timeout_seconds) == ("UTC", "forbid", False, 3600)
