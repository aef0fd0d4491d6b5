"""`berth deploy`, `releases`, `rollback`, `restart`, `events`: releases and their lifecycle."""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from berth_cli.client import EXIT_FAILED, EXIT_USAGE, Api, CliError
from berth_cli.output import ago, print_json, table
from berth_cli.packing import pack

POLL_SECONDS = 0.25
DONE = ("live", "failed", "superseded")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    deploy = sub.add_parser("deploy", help="deploy an image, or build and deploy a directory with a Dockerfile")
    deploy.add_argument("app")
    deploy.add_argument("dir", nargs="?", default=".", help="directory to build (default: .)")
    deploy.add_argument("--image", help="deploy this local or pullable image instead of building")
    deploy.add_argument("--dockerfile", default="Dockerfile", help="path of the Dockerfile inside DIR")
    deploy.add_argument("--no-wait", action="store_true", help="return once the release is queued")
    deploy.add_argument("--json", action="store_true")
    deploy.set_defaults(func=deploy_image)
    releases = sub.add_parser("releases", help="an app's releases, newest first")
    releases.add_argument("app")
    releases.add_argument("--json", action="store_true")
    releases.set_defaults(func=list_releases)
    rollback = sub.add_parser("rollback", help="deploy an earlier release again (default: the previous deploy)")
    rollback.add_argument("app")
    rollback.add_argument("release", nargs="?", help="release id (default: the last live release with another image)")
    rollback.add_argument("--no-wait", action="store_true")
    rollback.add_argument("--json", action="store_true")
    rollback.set_defaults(func=roll_back)
    restart = sub.add_parser("restart", help="restart an app with a zero-downtime flip")
    restart.add_argument("app")
    restart.add_argument("--hard", action="store_true", help="restart the container in place (short outage)")
    restart.add_argument("--no-wait", action="store_true")
    restart.add_argument("--json", action="store_true")
    restart.set_defaults(func=restart_app)
    events = sub.add_parser("events", help="the app's lifecycle: releases' steps and container events")
    events.add_argument("app")
    events.add_argument("-f", "--follow", action="store_true", help="keep streaming new events as they happen")
    events.add_argument("--json", action="store_true")
    events.set_defaults(func=show_events)


def deploy_image(api: Api, args: argparse.Namespace) -> int:
    if args.image:
        release = api.post(f"/api/apps/{args.app}/deploy", json={"image": args.image})
    else:
        release = upload_build(api, args)
    return follow(api, args, release)


def upload_build(api: Api, args: argparse.Namespace) -> dict[str, Any]:
    directory = Path(args.dir)
    if not (directory / args.dockerfile).is_file():
        raise CliError(f"no {args.dockerfile} in {directory.resolve()}; pass DIR or --image", EXIT_USAGE)
    headers = {}
    config = directory / "berth.toml"
    if config.is_file():
        headers["X-Berth-Config"] = base64.b64encode(config.read_bytes()).decode()
    archive, size, count = pack(directory, args.dockerfile)
    if not args.json:
        print(f"Packed {count} files ({size / 1024:.0f} KiB) from {directory.resolve()}", flush=True)

    def chunks() -> Iterator[bytes]:
        sent = 0
        while chunk := archive.read(256 * 1024):
            sent += len(chunk)
            if not args.json:
                print(f"\r  uploading {sent * 100 // max(size, 1)}% ({sent // 1024} KiB)", end="", flush=True)
            yield chunk
        if not args.json:
            print(flush=True)

    try:
        return dict(
            api.post(
                f"/api/apps/{args.app}/builds",
                params={"dockerfile": args.dockerfile},
                content=chunks(),
                headers={**headers, "Content-Type": "application/x-tar"},
                timeout=600,
            )
        )
    finally:
        archive.close()


def roll_back(api: Api, args: argparse.Namespace) -> int:
    body = {"releaseId": args.release} if args.release else {}
    return follow(api, args, api.post(f"/api/apps/{args.app}/rollback", json=body))


def restart_app(api: Api, args: argparse.Namespace) -> int:
    release = api.post(f"/api/apps/{args.app}/restart", params={"hard": "true"} if args.hard else None)
    if args.hard:
        print(f"Restarting {args.app} in place (release v{release['version']}).")
        return 0
    return follow(api, args, release)


def follow(api: Api, args: argparse.Namespace, release: dict[str, Any]) -> int:
    """Print the release's lifecycle steps as they happen; exit 0 when live, 1 when failed."""
    if args.no_wait:
        if args.json:
            print_json(release)
        else:
            print(f"Release v{release['version']} queued ({release['id']}).")
        return 0

    def say(text: str) -> None:
        if not args.json:
            print(text, flush=True)

    say(f"Release v{release['version']} ({release['kind']}) of {release['image']}")
    shown = 0
    # The build's output, then the release command's (ADR 0026 §3), each as it grows.
    logs_shown = {"buildLog": 0, "releaseLog": 0}
    while True:
        current = api.get(f"/api/apps/{args.app}/releases/{release['id']}")
        for key, prefix in (("buildLog", "  | "), ("releaseLog", "  release | ")):
            text = current.get(key) or ""
            if len(text) > logs_shown[key]:
                for line in text[logs_shown[key] :].splitlines():
                    say(f"{prefix}{line}")
                logs_shown[key] = len(text)
        for step in current["steps"][shown:]:
            slot = f" [slot {step['slot']}]" if step["slot"] else ""
            say(f"  {step['step']:<20}{slot} {step['detail']}  ({step['durationMs']} ms)")
        shown = len(current["steps"])
        if current["status"] in DONE:
            break
        time.sleep(POLL_SECONDS)
    if args.json:
        print_json(current)
    if current["status"] == "live":
        app = api.get(f"/api/apps/{args.app}")
        say(f"Live: {app['url']}")
        return 0
    reason = current.get("reason") or current["status"]
    print(f"berth: release v{current['version']} {current['status']}: {reason}", file=sys.stderr)
    return EXIT_FAILED


def list_releases(api: Api, args: argparse.Namespace) -> int:
    items = api.get(f"/api/apps/{args.app}/releases")["items"]
    if args.json:
        print_json(items)
        return 0
    rows = [
        (f"v{r['version']}", r["kind"], r["status"], image_cell(r), ago(r["createdAt"]), r["reason"] or "")
        for r in items
    ]
    print(table(rows, ["release", "kind", "status", "image", "created", "reason"]))
    return 0


def image_cell(release: dict[str, Any]) -> str:
    """The image, marked when it is no longer on the host (it cannot be rolled back to)."""
    gone = release.get("imageAvailable") is False
    return f"{release['image']} (gone from host)" if gone else str(release["image"])


def follow_events(api: Api, args: argparse.Namespace) -> int:
    """Stream the lifecycle (steps and history) as it happens, one line per event, deduplicated."""
    from berth_cli.commands.logs import stream_events

    seen: set[str] = set()
    for name, data in stream_events(api, f"/api/apps/{args.app}/events", {"follow": "1"}):
        if name not in ("step", "history"):
            continue
        item = json.loads(data)
        if item.get("key") in seen:
            continue
        seen.add(item.get("key", ""))
        if args.json:
            print(json.dumps({"event": name, **item}), flush=True)
        elif name == "step":
            slot = f" [slot {item['slot']}]" if item.get("slot") else ""
            print(f"{item['at']} v{item['version']} {item['step']}{slot} {item['detail']}", flush=True)
        else:
            detail = ", ".join(f"{k}={v}" for k, v in (item.get("detail") or {}).items())
            print(f"{item['at']} {item['kind']} {detail}", flush=True)
    return 0


def show_events(api: Api, args: argparse.Namespace) -> int:
    if args.follow:
        return follow_events(api, args)
    history = api.get(f"/api/apps/{args.app}/events")["items"]
    releases = api.get(f"/api/apps/{args.app}/releases")["items"]
    lines: list[tuple[str, str, str]] = []
    for r in releases[:10]:
        detail = api.get(f"/api/apps/{args.app}/releases/{r['id']}")
        lines += [(s["at"], f"v{r['version']} {s['step']}", s["detail"]) for s in detail["steps"]]
    lines += [(e["at"], e["kind"], ", ".join(f"{k}={v}" for k, v in e["detail"].items())) for e in history]
    lines.sort()
    if args.json:
        print_json([{"at": at, "event": what, "detail": d} for at, what, d in lines])
        return 0
    if not lines:
        raise CliError(f"no events for {args.app} yet; deploy it first", EXIT_USAGE)
    print(table(lines, ["at", "event", "detail"]))
    return 0
