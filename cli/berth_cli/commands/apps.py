"""`berth apps list|create|show|delete` and `berth status`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from berth_cli.client import EXIT_USAGE, Api, CliError
from berth_cli.output import ago, details, print_json, table


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    apps = sub.add_parser("apps", help="list, create, show and delete apps")
    verbs = apps.add_subparsers(dest="verb", required=True)
    ls = verbs.add_parser("list", help="list apps")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=list_apps)
    create = verbs.add_parser("create", help="create an app")
    create.add_argument("name")
    create.add_argument("--port", type=int)
    create.add_argument("--memory", type=int, metavar="MB", help="memory limit in MB (default 256)")
    create.add_argument("--cpus", type=float, help="CPU quota (default 0.5)")
    create.add_argument("--json", action="store_true")
    create.set_defaults(func=create_app)
    show = verbs.add_parser("show", help="show one app")
    show.add_argument("app")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=show_app)
    delete = verbs.add_parser("delete", help="delete an app and everything Berth keeps for it")
    delete.add_argument("app")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.set_defaults(func=delete_app)
    status = sub.add_parser("status", help="an app's status, release and address")
    status.add_argument("app")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=show_app)


def list_apps(api: Api, args: argparse.Namespace) -> int:
    items = api.get("/api/apps")["items"]
    if args.json:
        print_json(items)
        return 0
    if not items:
        print("No apps yet. Create one with `berth apps create NAME`.")
        return 0
    rows = [(a["name"], a["status"], a["url"], a["image"] or "-", ago(a["lastDeployedAt"])) for a in items]
    print(table(rows, ["name", "status", "url", "image", "deployed"]))
    return 0


def create_app(api: Api, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"name": args.name}
    if args.port is not None:
        body["port"] = args.port
    resources = {k: v for k, v in (("memoryMb", args.memory), ("cpus", args.cpus)) if v is not None}
    if resources:
        body["resources"] = resources
    app = api.post("/api/apps", json=body)
    if args.json:
        print_json(app)
    else:
        print(f"Created {app['name']}: {app['url']}  (deploy with `berth deploy {app['name']} --image IMAGE`)")
    return 0


def show_app(api: Api, args: argparse.Namespace) -> int:
    app = api.get(f"/api/apps/{args.app}")
    if args.json:
        print_json(app)
        return 0
    print(
        details(
            [
                ("name", app["name"]),
                ("status", app["status"] + (f" ({app['statusReason']})" if app.get("statusReason") else "")),
                ("url", app["url"]),
                ("image", app["image"]),
                ("digest", app["imageDigest"]),
                ("release", app["currentReleaseId"]),
                ("port", app["port"]),
                ("resources", f"{app['resources']['memoryMb']} MB, {app['resources']['cpus']} CPU"),
                ("deployed", ago(app["lastDeployedAt"])),
                ("created", app["createdAt"]),
            ]
        )
    )
    return 0


def delete_app(api: Api, args: argparse.Namespace) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError(f"refusing to delete {args.app} without confirmation; pass --yes", EXIT_USAGE)
        answer = input(f"Delete {args.app} with its containers, routes and data? Type its name to confirm: ")
        if answer.strip() != args.app:
            raise CliError("not deleted", EXIT_USAGE)
    api.delete(f"/api/apps/{args.app}")
    print(f"Deleted {args.app}.")
    return 0
