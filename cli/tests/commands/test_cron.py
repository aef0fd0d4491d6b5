"""`berth cron list|run|history`: the requests and what they print, on fixed API answers (GET
/api/apps/{id}/cron, GET and POST …/cron/{name}/runs, GET …/runs/{runId}; ADR 0026 §4)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from berth_cli.client import EXIT_CONFLICT, CliError
from berth_cli.commands.cron import history_table, jobs_table, outcome_cell, relative
from berth_cli.main import build_parser
from fake_cli_api import FakeApi

NOW = datetime(2026, 12, 5, 8, 0, 0, tzinfo=UTC)
JOBS = [
    {
        "name": "nightly",
        "schedule": "0 3 * * *",
        "timezone": "Europe/Paris",
        "command": ["python", "cronjob.py", "5"],
        "concurrency": "forbid",
        "timeoutSeconds": 3600,
        "catchUp": False,
        "nextRunAt": "2026-12-05T08:00:42Z",
        "lastRun": {"id": "r1", "status": "exited", "exitCode": 1, "startedAt": "2026-12-05T07:57:00Z"},
    },
    {
        "name": "tick",
        "schedule": "@every 30s",
        "timezone": "UTC",
        "command": ["python", "cronjob.py", "1"],
        "concurrency": "allow",
        "nextRunAt": "2026-12-05T09:30:00Z",
        "lastRun": None,
    },
]
HISTORY = [
    {
        "id": "r9",
        "trigger": "manual",
        "dueAt": None,
        "status": "running",
        "startedAt": "2026-12-05T07:59:58Z",
    },
    {
        "id": "r8",
        "trigger": "schedule",
        "dueAt": "2026-12-05T07:59:00Z",
        "status": "exited",
        "exitCode": 0,
        "durationMs": 1234,
        "lateMs": 120,
        "startedAt": "2026-12-05T07:59:00Z",
    },
    {
        "id": None,
        "trigger": "schedule",
        "dueAt": "2026-12-05T07:00:00Z",
        "status": "missed",
        "missedCount": 3,
        "reason": "the scheduler was down",
    },
]


def run_cli(fake: FakeApi, *argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    return int(args.func(fake.api(), args))


def test_times_before_and_after_now() -> None:
    assert relative("2026-12-05T08:00:42Z", NOW) == "in 42s"
    assert relative("2026-12-05T09:30:00Z", NOW) == "in 1h"
    assert relative("2026-12-05T07:57:00Z", NOW) == "3m ago"
    assert relative(None, NOW) == "-"


def test_outcomes() -> None:
    assert outcome_cell({"status": "exited", "exitCode": 0}) == "exited 0"
    assert outcome_cell({"status": "timed_out", "exitCode": 143}) == "timed_out 143"
    assert outcome_cell({"status": "skipped"}) == "skipped"
    assert outcome_cell({"status": "missed", "missedCount": 3}) == "missed (3)"
    assert outcome_cell(None) == "-"


def test_the_jobs_table() -> None:
    lines = jobs_table(JOBS, NOW).splitlines()
    assert lines[0].split() == ["JOB", "SCHEDULE", "COMMAND", "CONCURRENCY", "NEXT", "RUN", "LAST", "RUN", "WHEN"]
    assert "0 3 * * * (Europe/Paris)" in lines[1]
    assert "in 42s" in lines[1]
    assert "exited 1" in lines[1]
    assert lines[1].endswith("3m ago")
    assert "@every 30s" in lines[2]
    assert lines[2].split()[-4:] == ["in", "1h", "-", "-"]


def test_the_history_table() -> None:
    lines = history_table(HISTORY, NOW).splitlines()
    assert lines[0].split() == ["RUN", "TRIGGER", "DUE", "OUTCOME", "DURATION", "LATE", "STARTED", "REASON"]
    assert lines[1].split() == ["r9", "manual", "-", "running", "-", "-", "2s", "ago"]
    due = "2026-12-05T07:59:00Z"
    assert lines[2].split() == ["r8", "schedule", due, "exited", "0", "1.2s", "120", "ms", "1m", "ago"]
    assert lines[3].split()[:5] == ["-", "schedule", "2026-12-05T07:00:00Z", "missed", "(3)"]
    assert lines[3].endswith("the scheduler was down")


def test_list_prints_the_jobs_or_says_there_are_none(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(FakeApi({("GET", "/api/apps/shop/cron"): {"items": JOBS}}), "cron", "list", "shop") == 0
    assert "nightly" in capsys.readouterr().out
    assert run_cli(FakeApi({("GET", "/api/apps/shop/cron"): {"items": []}}), "cron", "list", "shop") == 0
    assert capsys.readouterr().out.startswith("shop has no cron jobs")
    fake = FakeApi({("GET", "/api/apps/shop/cron"): {"items": JOBS}})
    assert run_cli(fake, "cron", "list", "shop", "--json") == 0
    assert json.loads(capsys.readouterr().out) == JOBS


def test_history_reads_the_jobs_runs(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeApi({("GET", "/api/apps/shop/cron/nightly/runs"): {"items": HISTORY}})
    assert run_cli(fake, "cron", "history", "shop", "nightly") == 0
    out = capsys.readouterr().out
    assert "r8" in out
    assert out.rstrip().endswith("A run's output: berth logs shop --run RUN")


def test_run_now_starts_a_manual_run(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeApi(
        {("POST", "/api/apps/shop/cron/nightly/runs"): httpx.Response(202, json={"id": "r10", "status": "pending"})}
    )
    assert run_cli(fake, "cron", "run", "shop", "nightly") == 0
    assert capsys.readouterr().out == "Started run r10 of nightly; its output: berth logs shop --run r10\n"


def test_run_now_and_wait_exits_with_the_runs_code(capfd: pytest.CaptureFixture[str]) -> None:
    polls = iter(
        [
            {"id": "r11", "status": "running"},
            {"id": "r11", "status": "exited", "exitCode": 2, "durationMs": 800},
        ]
    )
    fake = FakeApi(
        {
            ("POST", "/api/apps/shop/cron/nightly/runs"): httpx.Response(202, json={"id": "r11", "status": "pending"}),
            ("GET", "/api/apps/shop/runs/r11"): lambda _request: httpx.Response(200, json=next(polls)),
        }
    )
    assert run_cli(fake, "cron", "run", "shop", "nightly", "--wait") == 2
    assert capfd.readouterr().err == "run r11 exited with 2 after 0.8s\n"


def test_run_now_held_back_by_forbid_is_a_conflict() -> None:
    refused = {"error": {"code": "conflict", "message": "nightly is still running (run r9) and its policy is forbid"}}
    fake = FakeApi({("POST", "/api/apps/shop/cron/nightly/runs"): httpx.Response(409, json=refused)})
    with pytest.raises(CliError, match="policy is forbid") as caught:
        run_cli(fake, "cron", "run", "shop", "nightly")
    assert caught.value.exit_code == EXIT_CONFLICT
