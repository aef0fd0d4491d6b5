"""`berth ps` and `berth scale`: arguments, the requests they make and what they print, on fixed
API answers (the shapes of GET/PATCH /api/apps/{id}/processes, ADR 0026)."""

from __future__ import annotations

import json

import httpx
import pytest
from berth_cli.client import EXIT_USAGE, CliError
from berth_cli.commands.processes import parse_counts, processes_table, render
from berth_cli.main import build_parser
from fake_cli_api import FakeApi

PROCESSES = {
    "appId": "a1",
    "items": [
        {
            "name": "web",
            "command": [],
            "count": 2,
            "scaled": False,
            "routed": True,
            "resources": {"memoryMb": 256, "cpus": 0.5},
            "crashed": None,
        },
        {
            "name": "worker",
            "command": ["python", "worker.py"],
            "count": 3,
            "scaled": True,
            "routed": False,
            "resources": {"memoryMb": 128, "cpus": 0.5},
            "crashed": "5 deaths in 5 minutes (exit 3)",
        },
    ],
}


def run_cli(fake: FakeApi, *argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    return int(args.func(fake.api(), args))


def test_counts_are_process_equals_count() -> None:
    assert parse_counts(["web=2", "worker=3", "beat=0"]) == {"web": 2, "worker": 3, "beat": 0}


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["worker"], "'worker': expected PROCESS=COUNT"),
        (["worker=-1"], "expected PROCESS=COUNT"),
        (["Worker=1"], "expected PROCESS=COUNT"),
        (["worker=11"], "a count is 0-10"),
        (["worker=1", "worker=2"], "worker is named twice"),
    ],
)
def test_bad_counts_are_usage_errors_naming_the_pair(pairs: list[str], message: str) -> None:
    with pytest.raises(CliError, match=message) as caught:
        parse_counts(pairs)
    assert caught.value.exit_code == EXIT_USAGE


def test_the_table_marks_web_routed_scaled_counts_and_crashed_processes() -> None:
    lines = processes_table(PROCESSES["items"]).splitlines()
    assert lines[0].split() == ["PROCESS", "COUNT", "COMMAND", "RESOURCES", "STATE"]
    assert lines[1].split() == ["web", "*", "2", "(image", "CMD)", "256", "MB,", "0.5", "CPU", "-"]
    assert "3 (scaled)" in lines[2]
    assert "python worker.py" in lines[2]
    assert lines[2].endswith("crashed: 5 deaths in 5 minutes (exit 3)")


def test_instances_are_listed_when_the_api_gives_them() -> None:
    items = [
        {
            **PROCESSES["items"][0],
            "instances": [
                {"index": 0, "state": "running", "address": "10.0.0.2", "version": 4, "restarts": 0},
                {"index": 1, "state": "starting", "address": "10.0.0.4", "version": 4, "restarts": 2},
            ],
        }
    ]
    text = render(items)
    assert "1 running, 1 starting" in text
    instance_rows = [line.split() for line in text.splitlines() if line.startswith("web.")]
    assert instance_rows == [["web.0", "running", "10.0.0.2", "v4", "0"], ["web.1", "starting", "10.0.0.4", "v4", "2"]]


def test_ps_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeApi({("GET", "/api/apps/shop/processes"): PROCESSES})
    assert run_cli(fake, "ps", "shop") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].startswith("web *")
    assert "* routed" in out


def test_ps_json_is_the_api_answer(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeApi({("GET", "/api/apps/shop/processes"): PROCESSES})
    assert run_cli(fake, "ps", "shop", "--json") == 0
    assert json.loads(capsys.readouterr().out) == PROCESSES


def test_scale_patches_each_process_and_prints_the_result(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeApi(
        {
            ("PATCH", "/api/apps/shop/processes/web"): PROCESSES,
            ("PATCH", "/api/apps/shop/processes/worker"): PROCESSES,
        }
    )
    assert run_cli(fake, "scale", "shop", "web=2", "worker=3") == 0
    assert fake.bodies("PATCH", "/api/apps/shop/processes/web") == [{"count": 2}]
    assert fake.bodies("PATCH", "/api/apps/shop/processes/worker") == [{"count": 3}]
    out = capsys.readouterr().out
    assert out.startswith("Scaling web to 2, worker to 3 (shop).")
    assert "3 (scaled)" in out


def test_scale_refused_by_the_api_is_a_usage_error_naming_the_field() -> None:
    fake = FakeApi(
        {
            ("PATCH", "/api/apps/shop/processes/worker"): httpx.Response(
                422,
                json={
                    "error": {
                        "code": "validation_failed",
                        "message": "count: too many",
                        "details": [{"field": "count", "message": "at most 5 instances fit the app's network"}],
                    }
                },
            )
        }
    )
    with pytest.raises(CliError, match="invalid input: count: at most 5 instances") as caught:
        run_cli(fake, "scale", "shop", "worker=9")
    assert caught.value.exit_code == EXIT_USAGE


def test_a_malformed_pair_sends_nothing() -> None:
    fake = FakeApi({})
    with pytest.raises(CliError):
        run_cli(fake, "scale", "shop", "web=2", "worker")
    assert fake.requests == []
