"""`berth cron list|run|history APP [JOB]`: an app's cron jobs, run now, and their history
(ADR 0026 §4). The jobs come from the live release's berth.toml ``[[cron]]`` or ``PUT formation``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from berth_cli.client import Api
from berth_cli.commands.runs import FINISHED, exit_code_of, finished_line
from berth_cli.output import ago, print_json, table

POLL_SECONDS = 0.5


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cron = sub.add_parser("cron", help="an app's cron jobs: list, run now, history")
    verbs = cron.add_subparsers(dest="verb", required=True)
    ls = verbs.add_parser("list", help="the app's jobs with their schedule, next run and last run")
    ls.add_argument("app")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=list_jobs)
    run = verbs.add_parser("run", help="run a job now (follows its concurrency policy)")
    run.add_argument("app")
    run.add_argument("job")
    run.add_argument("--wait", action="store_true", help="wait for the run to end; exit with its exit code")
    run.add_argument("--json", action="store_true")
    run.set_defaults(func=run_job)
    history = verbs.add_parser("history", help="a job's runs (the last 100 are kept), newest first")
    history.add_argument("app")
    history.add_argument("job")
    history.add_argument("--json", action="store_true")
    history.set_defaults(func=show_history)


def _duration(ms: int | None) -> str:
    if ms is None:
        return "-"
    return f"{ms / 1000:.1f}s" if ms < 60_000 else f"{ms // 60_000}m{ms % 60_000 // 1000:02d}s"


def outcome_cell(run: dict[str, Any] | None) -> str:
    """A run's status with its exit code when it has one: ``exited 0``, ``timed_out 143``, ``missed (3)``."""
    if not run:
        return "-"
    status = str(run.get("status") or "-")
    if run.get("exitCode") is not None:
        return f"{status} {run['exitCode']}"
    missed = run.get("missedCount") or run.get("missed")
    if status == "missed" and missed:
        return f"missed ({missed})"
    return status


def relative(ts: str | None, now: datetime | None = None) -> str:
    """``3m ago`` for a past time, ``in 42s`` for a future one (pure)."""
    if not ts:
        return "-"
    then = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    ahead = int((then - (now or datetime.now(UTC))).total_seconds())
    if ahead <= 0:
        return ago(ts, now)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if ahead >= size:
            return f"in {ahead // size}{unit}"
    return f"in {ahead}s"


def _last_at(run: dict[str, Any] | None) -> str | None:
    run = run or {}
    return run.get("startedAt") or run.get("createdAt") or run.get("dueAt")


def jobs_table(items: Sequence[dict[str, Any]], now: datetime | None = None) -> str:
    """One row per job (pure)."""
    rows = []
    for job in items:
        schedule = job["schedule"] + (f" ({job['timezone']})" if job.get("timezone", "UTC") != "UTC" else "")
        last = job.get("lastRun")
        rows.append(
            (
                job["name"],
                schedule,
                " ".join(job.get("command") or []),
                job.get("concurrency", "forbid"),
                relative(job.get("nextRunAt"), now),
                outcome_cell(last),
                relative(_last_at(last), now),
            )
        )
    return table(rows, ["job", "schedule", "command", "concurrency", "next run", "last run", "when"])


def history_table(items: Sequence[dict[str, Any]], now: datetime | None = None) -> str:
    """One row per run or missed entry (pure): its id (for `berth logs APP --run ID`), trigger,
    due time, outcome, duration, lateness and the reason when there is one."""
    rows = [
        (
            r.get("id") or "-",
            r.get("trigger") or "-",
            r.get("dueAt") or "-",
            outcome_cell(r),
            _duration(r.get("durationMs")),
            "-" if r.get("lateMs") is None else f"{r['lateMs']} ms",
            relative(r.get("startedAt"), now),
            r.get("reason") or "",
        )
        for r in items
    ]
    return table(rows, ["run", "trigger", "due", "outcome", "duration", "late", "started", "reason"])


def list_jobs(api: Api, args: argparse.Namespace) -> int:
    items = api.get(f"/api/apps/{args.app}/cron")["items"]
    if args.json:
        print_json(items)
    elif not items:
        print(f"{args.app} has no cron jobs; add [[cron]] to its berth.toml (or PUT formation) and deploy.")
    else:
        print(jobs_table(items))
    return 0


def show_history(api: Api, args: argparse.Namespace) -> int:
    items = api.get(f"/api/apps/{args.app}/cron/{args.job}/runs")["items"]
    if args.json:
        print_json(items)
    elif not items:
        print(f"{args.job} has not run yet.")
    else:
        print(history_table(items))
        print(f"\nA run's output: berth logs {args.app} --run RUN")
    return 0


def run_job(api: Api, args: argparse.Namespace) -> int:
    run = api.post(f"/api/apps/{args.app}/cron/{args.job}/runs")
    if not args.wait:
        if args.json:
            print_json(run)
        else:
            print(f"Started run {run['id']} of {args.job}; its output: berth logs {args.app} --run {run['id']}")
        return 0
    while run.get("status") not in FINISHED:
        time.sleep(POLL_SECONDS)
        run = api.get(f"/api/apps/{args.app}/runs/{run['id']}")
    if args.json:
        print_json(run)
    else:
        print(finished_line(run), file=sys.stderr if exit_code_of(run) else sys.stdout)
    return exit_code_of(run)
