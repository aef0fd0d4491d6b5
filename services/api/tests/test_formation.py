"""The formation: one rule set for berth.toml (snake_case, ``berth.toml: <path>``) and the API
(camelCase, the body's path); every problem is reported, each naming its field."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from berth_api.formation import check_fits, given_sections, merge, parse_formation
from berth_shared.contracts.processes import CronJob, Formation, ProcessSpec, ReleaseCommand
from berth_shared.errors import ValidationFailed

TOML = """
release = "python manage.py migrate"
[processes]
web = { command = "gunicorn app:app", count = 2 }
worker = { command = "python worker.py", count = 1, memory_mb = 256 }
beat = ["python", "beat.py", "--loud"]
[[cron]]
name = "nightly"
schedule = "0  3 * * *"
timezone = "Europe/Berlin"
command = "python manage.py report --since '1 day'"
concurrency = "replace"
[[cron]]
name = "ping"
schedule = "@every 30s"
command = "sh -c 'echo $HOSTNAME'"
catch_up = true
"""


def fields(data: dict[str, Any], style: str = "toml") -> list[str]:
    with pytest.raises(ValidationFailed) as err:
        parse_formation(data, style=style)  # type: ignore[arg-type]
    return [d.field for d in err.value.details]


def test_the_issue_example_from_berth_toml() -> None:
    formation = parse_formation(tomllib.loads(TOML), style="toml")
    assert formation.processes == [
        ProcessSpec(name="web", command=["gunicorn", "app:app"], count=2),
        ProcessSpec(name="worker", command=["python", "worker.py"], count=1, memory_mb=256),
        ProcessSpec(name="beat", command=["python", "beat.py", "--loud"]),
    ]
    assert formation.release_command == ReleaseCommand(command=["python", "manage.py", "migrate"], timeout_seconds=300)
    nightly, ping = formation.cron
    assert nightly == CronJob(
        name="nightly",
        schedule="0 3 * * *",
        command=["python", "manage.py", "report", "--since", "1 day"],
        timezone="Europe/Berlin",
        concurrency="replace",
    )
    assert ping.command == ["sh", "-c", "echo $HOSTNAME"] and ping.catch_up and ping.concurrency == "forbid"


def test_the_api_spells_keys_in_camel_case() -> None:
    body = {
        "processes": {"web": {"count": 0}, "worker": {"command": "w", "memoryMb": 64, "cpus": 0.25}},
        "releaseCommand": {"command": "migrate", "timeoutSeconds": 60},
        "cron": [{"name": "n", "schedule": "@hourly", "command": "x", "timeoutSeconds": 5, "catchUp": True}],
    }
    formation = parse_formation(body, style="json")
    assert formation.processes[0] == ProcessSpec(name="web", count=0)  # web without a command: the image's CMD
    assert formation.processes[1].memory_mb == 64 and formation.processes[1].cpus == 0.25
    assert formation.release_command == ReleaseCommand(command=["migrate"], timeout_seconds=60)
    assert formation.cron[0].timeout_seconds == 5 and formation.cron[0].catch_up
    assert fields({"processes": {"worker": {"command": "w", "memory_mb": 64}}}, "json") == [
        "processes.worker.memory_mb"
    ]
    # the release command given as a string alone: its problem names the key the body used
    assert fields({"releaseCommand": "sh -c 'oops"}, "json") == ["releaseCommand"]
    assert fields({"releaseCommand": {"command": ""}}, "json") == ["releaseCommand.command"]
    assert given_sections(body, style="json") == {"processes", "release", "cron"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[processes]\nworker = { count = 1 }\n', ["berth.toml: processes.worker.command"]),
        ('[processes]\nworker = { command = "" }\n', ["berth.toml: processes.worker.command"]),
        ('[processes]\nworker = { command = "a \'b" }\n', ["berth.toml: processes.worker.command"]),
        ('[processes]\nworker = 3\n', ["berth.toml: processes.worker"]),
        ('[processes]\nweb = { count = 11 }\n', ["berth.toml: processes.web.count"]),
        ('[processes]\nweb = { count = true }\n', ["berth.toml: processes.web.count"]),
        ('[processes]\nweb = { memory_mb = 8, cpus = 100 }\n',
         ["berth.toml: processes.web.memory_mb", "berth.toml: processes.web.cpus"]),
        ('[processes]\nweb = { replicas = 2 }\n', ["berth.toml: processes.web.replicas"]),
        ('[processes]\nWorker = "x"\nrun = "x"\n', ["berth.toml: processes.Worker", "berth.toml: processes.run"]),
        ('processes = "web"\n', ["berth.toml: processes"]),
        ('release = { timeout_seconds = 5 }\n', ["berth.toml: release.command"]),
        ('release = "sh -c \'oops"\n', ["berth.toml: release"]),
        ('release = []\n', ["berth.toml: release"]),
        ('release = { command = "m", timeout_seconds = 0 }\n', ["berth.toml: release.timeout_seconds"]),
        ('[[cron]]\nname = "x"\n', ["berth.toml: cron[0].schedule", "berth.toml: cron[0].command"]),
        ('[[cron]]\nname = "x"\nschedule = "61 * * * *"\ncommand = "c"\n', ["berth.toml: cron[0].schedule"]),
        ('[[cron]]\nname = "x"\nschedule = "@daily"\ncommand = "c"\ntimezone = "Mars/Base"\n',
         ["berth.toml: cron[0].timezone"]),
        ('[[cron]]\nname = "x"\nschedule = "@daily"\ncommand = "c"\nconcurrency = "queue"\n',
         ["berth.toml: cron[0].concurrency"]),
        ('[[cron]]\nname = "x"\nschedule = "@daily"\ncommand = "c"\ncatch_up = "yes"\n',
         ["berth.toml: cron[0].catch_up"]),
        ('[[cron]]\nname = "Bad Name"\nschedule = "@daily"\ncommand = "c"\n', ["berth.toml: cron[0].name"]),
        ('[[cron]]\nname = "a"\nschedule = "@daily"\ncommand = "c"\n[[cron]]\nname = "a"\nschedule = "@daily"\n'
         'command = "c"\n', ["berth.toml: cron[1].name"]),
        ('[[cron]]\nname = "a"\nschedule = "@daily"\ncommand = "c"\nevery = 1\n', ["berth.toml: cron[0].every"]),
        ('cron = "nightly"\n', ["berth.toml: cron"]),
    ],
)  # fmt: skip
def test_every_problem_names_its_field(text: str, expected: list[str]) -> None:
    assert fields(tomllib.loads(text)) == expected


def test_schedule_problems_say_what_is_wrong() -> None:
    with pytest.raises(ValidationFailed) as err:
        parse_formation({"cron": [{"name": "x", "schedule": "* * * * 9", "command": "c"}]}, style="json")
    assert err.value.details[0].field == "cron[0].schedule"
    assert err.value.details[0].message == "day of week field: 9 is out of range 0-7"
    assert fields({"cron": [{"name": "x", "schedule": 5, "command": "c"}]}, "json") == ["cron[0].schedule"]


def test_limits_on_how_many() -> None:
    many = {f"p{n}": "x" for n in range(9)}
    assert fields({"processes": many}, "json") == ["processes"]
    jobs = [{"name": f"j{n}", "schedule": "@daily", "command": "c"} for n in range(51)]
    assert fields({"cron": jobs}, "json") == ["cron"]


def test_a_new_release_replaces_only_the_sections_it_states() -> None:
    previous = Formation(
        processes=[ProcessSpec(name="worker", command=["w"])],
        release_command=ReleaseCommand(command=["migrate"]),
        cron=[CronJob(name="n", schedule="@daily", command=["c"])],
    )
    given = Formation(cron=[])
    merged = merge(previous, given, {"cron"})
    assert merged.processes == previous.processes and merged.release_command == previous.release_command
    assert merged.cron == []
    assert merge(None, given, set()) == Formation()


def test_a_formation_must_fit_the_apps_network() -> None:
    big = Formation(processes=[ProcessSpec(name="web", count=3), ProcessSpec(name="worker", command=["w"], count=3)])
    check_fits(Formation(processes=[ProcessSpec(name="web", count=5)]), "10.240.0.16/28", style="json")
    with pytest.raises(ValidationFailed) as err:
        check_fits(big, "10.240.0.16/28", style="toml")
    assert err.value.details[0].field == "berth.toml: processes"
    assert "at most 5 instances" in err.value.details[0].message
