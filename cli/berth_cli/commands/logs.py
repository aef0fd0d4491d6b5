"""`berth logs APP [-f] [--since] [--grep] [--stream] [--release] [--process] [--run]` and
`berth logs --platform`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from typing import Any

import httpx

from berth_cli.client import EXIT_UNREACHABLE, EXIT_USAGE, Api, CliError
from berth_cli.output import print_json


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logs = sub.add_parser("logs", help="an app's logs (searchable, kept across releases), or Berth's own")
    logs.add_argument("app", nargs="?")
    logs.add_argument("-f", "--follow", action="store_true", help="keep streaming new lines")
    logs.add_argument("--since", help="ISO 8601 time or a duration back from now: 30s, 15m, 2h, 7d")
    logs.add_argument("--until")
    logs.add_argument("--grep", help="only lines containing this text (case-insensitive)")
    logs.add_argument("--stream", choices=("stdout", "stderr", "proxy"))
    logs.add_argument("--release", help="a release id or version such as v3")
    logs.add_argument("--process", help="one process type: web, worker, ... (release, run, cron: one-off containers)")
    logs.add_argument("--run", help="one run's output (berth run, a cron run), by its id")
    logs.add_argument("-n", "--limit", type=int, default=200)
    logs.add_argument("--probes", action="store_true", help="also the app's records of Berth's own health probes")
    logs.add_argument("--platform", action="store_true", help="Berth's own service logs (why did a deploy fail?)")
    logs.add_argument("--service", help="with --platform: one process (api, runtime-agent, router, ...)")
    logs.add_argument("--json", action="store_true")
    logs.set_defaults(func=show_logs)


def query_params(args: argparse.Namespace) -> dict[str, str]:
    """The API query of the given flags (pure)."""
    pairs = {
        "since": args.since,
        "until": args.until,
        "q": args.grep,
        "stream": args.stream,
        "release": args.release,
        "process": getattr(args, "process", None),
        "run": getattr(args, "run", None),
        "limit": str(args.limit),
        "probes": "true" if getattr(args, "probes", False) else None,
    }
    return {k: v for k, v in pairs.items() if v}


def format_line(item: dict[str, Any]) -> str:
    """``<timestamp> [<process>] out|err <message>``, like Heroku's ``app[worker.1]:``; a run's
    lines say which run (``[run 1f0c2a9b]``, the start of its id)."""
    stream = "err" if item.get("stream") == "stderr" else "out"
    process = item.get("process") or "web"
    if item.get("runId"):
        process = f"{process} {str(item['runId'])[:8]}"
    return f"{item['timestamp']} [{process}] {stream} {item['message']}"


def show_logs(api: Api, args: argparse.Namespace) -> int:
    if args.platform:
        return platform_logs(api, args)
    if not args.app:
        raise CliError("name an app (berth logs APP) or use --platform", EXIT_USAGE)
    params = query_params(args)
    if args.follow:
        for item in follow(api, f"/api/apps/{args.app}/logs", {**params, "follow": "1"}):
            print(json.dumps(item) if args.json else format_line(item), flush=True)
        return 0
    items = api.get(f"/api/apps/{args.app}/logs", params=params)["items"]
    if args.json:
        print_json(items)
    else:
        for item in items:
            print(format_line(item))
    return 0


def platform_logs(api: Api, args: argparse.Namespace) -> int:
    params = {k: v for k, v in {"service": args.service, "q": args.grep, "appId": args.app}.items() if v}
    params["limit"] = str(args.limit)
    items = api.get("/api/platform/logs", params=params)["items"]
    if args.json:
        print_json(items)
        return 0
    for item in items:
        print(f"{item['timestamp'] or '-'} {item['service']:<13} {item['level'] or '-':<7} {item['message']}")
    return 0


def parse_sse(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event name, data) pairs of a Server-Sent Events stream (pure); comments are skipped."""
    name, data = "message", list[str]()
    for line in lines:
        if line == "":
            if data:
                yield name, "\n".join(data)
            name, data = "message", list[str]()
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


def stream_events(api: Api, path: str, params: dict[str, str]) -> Iterator[tuple[str, str]]:
    """(event, data) pairs of an SSE endpoint of the API, until the server ends the stream."""
    try:
        with api.http.stream("GET", path, params=params, timeout=httpx.Timeout(30, read=None)) as response:
            if response.status_code >= 400:
                response.read()
                api._result(response)
            yield from parse_sse(response.iter_lines())
    except httpx.TransportError as exc:
        raise CliError(f"lost the connection to the Berth API ({type(exc).__name__})", EXIT_UNREACHABLE) from None


def follow(api: Api, path: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
    for name, data in stream_events(api, path, params):
        if name == "skipped":
            print(f"-- {data} --", flush=True)
            continue
        yield json.loads(data)
