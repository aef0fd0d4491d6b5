"""`berth ps APP` and `berth scale APP web=2 worker=3`: an app's process types (ADR 0026)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import Any

from berth_cli.client import EXIT_USAGE, Api, CliError
from berth_cli.output import print_json, table

# As the API checks them (berth_shared.contracts.processes): the CLI only catches typos early.
_PAIR = re.compile(r"([a-z][a-z0-9-]{0,29})=(\d+)")
MAX_COUNT = 10


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ps = sub.add_parser("ps", help="an app's processes: command, count, resources, instances")
    ps.add_argument("app")
    ps.add_argument("--json", action="store_true")
    ps.set_defaults(func=show_processes)
    scale = sub.add_parser("scale", help="change process counts without a new release: scale APP web=2 worker=3")
    scale.add_argument("app")
    scale.add_argument("counts", nargs="+", metavar="PROCESS=COUNT")
    scale.add_argument("--json", action="store_true")
    scale.set_defaults(func=scale_processes)


def parse_counts(pairs: Sequence[str]) -> dict[str, int]:
    """``["web=2", "worker=3"]`` -> ``{"web": 2, "worker": 3}`` (pure); a usage error names the
    pair that is not ``PROCESS=COUNT`` with a count of 0-10, or a process named twice."""
    counts: dict[str, int] = {}
    for pair in pairs:
        match = _PAIR.fullmatch(pair)
        if not match:
            raise CliError(f"{pair!r}: expected PROCESS=COUNT, e.g. worker=3", EXIT_USAGE)
        name, count = match.group(1), int(match.group(2))
        if count > MAX_COUNT:
            raise CliError(f"{pair!r}: a count is 0-{MAX_COUNT}", EXIT_USAGE)
        if name in counts:
            raise CliError(f"{pair!r}: {name} is named twice", EXIT_USAGE)
        counts[name] = count
    return counts


def _command_cell(process: dict[str, Any]) -> str:
    command = process.get("command") or []
    return " ".join(command) if command else "(image CMD)"


def _resources_cell(process: dict[str, Any]) -> str:
    resources = process.get("resources") or {}
    if not resources:
        return "-"
    return f"{resources.get('memoryMb')} MB, {resources.get('cpus')} CPU"


def _state_cell(process: dict[str, Any]) -> str:
    if process.get("crashed"):
        return f"crashed: {process['crashed']}"
    instances = process.get("instances")
    if instances is None:
        return "-"
    states: dict[str, int] = {}
    for instance in instances:
        states[instance.get("state", "?")] = states.get(instance.get("state", "?"), 0) + 1
    return ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "none running"


def processes_table(items: Sequence[dict[str, Any]]) -> str:
    """One row per process type (pure): name (``*`` when routed), count (``scaled`` when set by
    `berth scale` since the release), command, resources, state of its instances."""
    rows = [
        (
            p["name"] + (" *" if p.get("routed") else ""),
            f"{p['count']}" + (" (scaled)" if p.get("scaled") else ""),
            _command_cell(p),
            _resources_cell(p),
            _state_cell(p),
        )
        for p in items
    ]
    return table(rows, ["process", "count", "command", "resources", "state"])


def instances_table(items: Sequence[dict[str, Any]]) -> str | None:
    """Each running instance (pure), when the API lists them; None when it does not."""
    rows = [
        (
            f"{p['name']}.{i.get('index', 0)}",
            i.get("state", "-"),
            i.get("address") or "-",
            f"v{i['version']}" if i.get("version") is not None else (i.get("releaseId") or "-")[:8],
            i.get("restarts", 0),
        )
        for p in items
        for i in p.get("instances") or []
    ]
    return table(rows, ["instance", "state", "address", "release", "restarts"]) if rows else None


def render(items: Sequence[dict[str, Any]]) -> str:
    text = processes_table(items)
    instances = instances_table(items)
    footer = "* routed: served through the proxy"
    return f"{text}\n\n{instances}\n\n{footer}" if instances else f"{text}\n\n{footer}"


def show_processes(api: Api, args: argparse.Namespace) -> int:
    result = api.get(f"/api/apps/{args.app}/processes")
    if args.json:
        print_json(result)
    else:
        print(render(result["items"]))
    return 0


def scale_processes(api: Api, args: argparse.Namespace) -> int:
    counts = parse_counts(args.counts)
    result: dict[str, Any] = {}
    for name, count in counts.items():
        result = api.patch(f"/api/apps/{args.app}/processes/{name}", json={"count": count})
    if args.json:
        print_json(result)
        return 0
    print("Scaling " + ", ".join(f"{name} to {count}" for name, count in counts.items()) + f" ({args.app}).")
    print(render(result["items"]))
    return 0
