"""What formation each release records and what the agent runs of it (ADR 0026 §1)."""

from __future__ import annotations

import pytest
from berth_api import release_formation as rf
from berth_shared.contracts.processes import CronJob, Formation, ProcessSpec, ReleaseCommand
from berth_shared.errors import NotFound, ValidationFailed

WEB2 = ProcessSpec(name="web", command=["gunicorn", "app:app"], count=2)
WORKER = ProcessSpec(name="worker", command=["python", "worker.py"], count=1, memory_mb=256)
WORKER3 = ProcessSpec(name="worker", command=["python", "worker.py"], count=3, memory_mb=256)
MIGRATE = ReleaseCommand(command=["python", "manage.py", "migrate"])
NIGHTLY = CronJob(name="nightly", schedule="0 3 * * *", command=["python", "report.py"])
FULL = Formation(processes=[WEB2, WORKER], release_command=MIGRATE, cron=[NIGHTLY])


def counts(formation: Formation | None) -> dict[str, int]:
    return {p.name: p.count for p in rf.effective_processes(formation, {})}


@pytest.mark.parametrize(
    ("previous", "given", "sections", "scaled", "expected"),
    [
        pytest.param(None, None, (), {}, None, id="nothing stated ever: one web from the CMD"),
        pytest.param(FULL, None, (), {}, FULL, id="a deploy of a new image keeps everything"),
        pytest.param(
            FULL,
            Formation(processes=[WORKER]),
            ("processes",),
            {},
            Formation(processes=[WORKER], release_command=MIGRATE, cron=[NIGHTLY]),
            id="stated processes replace; release command and cron carry over",
        ),
        pytest.param(
            FULL,
            Formation(),
            ("release",),
            {},
            Formation(processes=[WEB2, WORKER], cron=[NIGHTLY]),
            id="a stated empty release command clears it",
        ),
        pytest.param(
            FULL,
            None,
            (),
            {"worker": 3},
            Formation(
                processes=[WEB2, WORKER3],
                release_command=MIGRATE,
                cron=[NIGHTLY],
            ),
            id="a scale's counts are folded into the next release",
        ),
        pytest.param(
            FULL,
            Formation(processes=[WEB2]),
            ("processes",),
            {"worker": 3},
            Formation(processes=[WEB2], release_command=MIGRATE, cron=[NIGHTLY]),
            id="stated processes win over a scale (configuration as code)",
        ),
        pytest.param(
            None,
            None,
            (),
            {"web": 2},
            Formation(processes=[ProcessSpec(name="web", count=2)]),
            id="a scaled app without a formation records its web count",
        ),
    ],
)
def test_next_formation(
    previous: Formation | None,
    given: Formation | None,
    sections: tuple[str, ...],
    scaled: dict[str, int],
    expected: Formation | None,
) -> None:
    assert rf.next_formation(previous, given, sections, scaled) == expected


def test_the_formation_survives_its_column() -> None:
    assert rf.decode(rf.encode(FULL)) == FULL
    assert rf.decode(None) is None and rf.encode(None) is None
    assert rf.decode_counts('{"worker": 3}') == {"worker": 3} and rf.decode_counts({"web": 2}) == {"web": 2}
    assert rf.decode_reasons('{"worker": "exited"}') == {"worker": "exited"}


def test_the_agent_runs_the_release_processes_with_the_stored_counts_web_first() -> None:
    assert rf.effective_processes(None, {}) == []  # older releases: the agent's one web from the CMD
    run = rf.effective_processes(Formation(processes=[WORKER, WEB2]), {"worker": 4})
    assert [(p.name, p.count, p.command) for p in run] == [
        ("web", 2, ["gunicorn", "app:app"]),
        ("worker", 4, ["python", "worker.py"]),
    ]
    assert [(p.name, p.count) for p in rf.effective_processes(None, {"web": 3})] == [("web", 3)]


@pytest.mark.parametrize(
    ("kind", "runs"),
    [("deploy", True), ("build", True), ("rollback", True), ("config", True), ("restart", False)],
)
def test_the_release_command_runs_for_releases_that_change_code_formation_or_env(kind: str, runs: bool) -> None:
    assert rf.release_command_for(kind, FULL) == (MIGRATE if runs else None)
    assert rf.release_command_for(kind, None) is None


def test_a_scale_stores_the_count_of_a_known_process() -> None:
    assert rf.scaled_counts(FULL, {}, "worker", 3) == {"worker": 3}
    assert rf.scaled_counts(FULL, {"worker": 3}, "web", 0) == {"worker": 3, "web": 0}
    assert rf.scaled_counts(None, {}, "web", 2) == {"web": 2}
    # a count of a process the release no longer has is dropped
    assert rf.scaled_counts(Formation(processes=[WEB2]), {"worker": 3}, "web", 1) == {"web": 1}


def test_a_scale_of_an_unknown_process_is_404_naming_the_processes() -> None:
    with pytest.raises(NotFound, match="no process 'beat'; its processes: web, worker"):
        rf.scaled_counts(FULL, {}, "beat", 1)


@pytest.mark.parametrize("count", [-1, 11])
def test_a_count_out_of_range_is_422_on_count(count: int) -> None:
    with pytest.raises(ValidationFailed) as err:
        rf.scaled_counts(FULL, {}, "worker", count)
    assert [d.field for d in err.value.details] == ["count"]
