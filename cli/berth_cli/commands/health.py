"""`berth health APP [--set ...]` and `berth webhooks list|add|remove`."""

from __future__ import annotations

import argparse
from typing import Any

from berth_cli.client import Api
from berth_cli.output import ago, details, print_json, table


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    health = sub.add_parser("health", help="an app's health: state, uptime, recent checks; or configure its check")
    health.add_argument("app")
    health.add_argument("--path", help="set the check: HTTP path to GET (e.g. /healthz)")
    health.add_argument("--interval", type=float, help="seconds between checks (default 10)")
    health.add_argument("--timeout", type=float, help="seconds before a check fails (default 5)")
    health.add_argument("--expect", help="expected status: 200, 2xx, ... (default any 2xx/3xx)")
    health.add_argument("--json", action="store_true")
    health.set_defaults(func=show_health)
    hooks = sub.add_parser("webhooks", help="alerts to your own URL, signed with HMAC-SHA256")
    verbs = hooks.add_subparsers(dest="verb", required=True)
    ls = verbs.add_parser("list")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=list_webhooks)
    add = verbs.add_parser("add", help="add a webhook; its signing secret is shown once")
    add.add_argument("url")
    add.add_argument("events", nargs="+", help="health.unhealthy health.recovered deploy.failed ...")
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=add_webhook)
    remove = verbs.add_parser("remove")
    remove.add_argument("id")
    remove.set_defaults(func=remove_webhook)


def check_body(args: argparse.Namespace) -> dict[str, Any]:
    """The PUT body of the given flags (pure)."""
    body: dict[str, Any] = {"path": args.path}
    for key, value in (("intervalSeconds", args.interval), ("timeoutSeconds", args.timeout)):
        if value is not None:
            body[key] = value
    if args.expect:
        body["expectedStatus"] = int(args.expect) if args.expect.isdigit() else args.expect
    return body


def show_health(api: Api, args: argparse.Namespace) -> int:
    if args.path:
        api.request("PUT", f"/api/apps/{args.app}/health", json=check_body(args))
    report = api.get(f"/api/apps/{args.app}/health")
    if args.json:
        print_json(report)
        return 0
    config = report["config"]
    check = (
        "container running (no HTTP check configured)"
        if not config
        else (f"GET {config['path']} every {config['intervalSeconds']}s, timeout {config['timeoutSeconds']}s")
    )
    uptime = report["uptime"]
    last = report["lastCheck"]
    print(
        details(
            [
                ("state", report["state"] + (f" ({report['reason']})" if report.get("reason") else "")),
                ("check", check),
                ("uptime", ", ".join(f"{k} {_pct(v)}" for k, v in uptime.items())),
                ("last check", _result(last) if last else "-"),
                ("restarts", report.get("automaticRestarts")),
            ]
        )
    )
    items = report["history"]["items"][:10]
    if items:
        print()
        print(
            table(
                [(ago(i["timestamp"]), _result(i), f"{i['latencyMs']} ms") for i in items],
                ["when", "result", "latency"],
            )
        )
    return 0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%" if value <= 1 else f"{value:.2f}%"


def _result(item: dict[str, Any]) -> str:
    outcome = item["statusCode"] if item.get("statusCode") is not None else item.get("error") or "-"
    return f"{'ok' if item['ok'] else 'FAIL'} {outcome}"


def list_webhooks(api: Api, args: argparse.Namespace) -> int:
    items = api.get("/api/webhooks")["items"]
    if args.json:
        print_json(items)
        return 0
    print(table([(w["id"], w["url"], " ".join(w["events"])) for w in items], ["id", "url", "events"]))
    return 0


def add_webhook(api: Api, args: argparse.Namespace) -> int:
    hook = api.post("/api/webhooks", json={"url": args.url, "events": args.events})
    if args.json:
        print_json(hook)
    else:
        print(f"Added webhook {hook['id']}. Signing secret (shown once): {hook.get('secret')}")
    return 0


def remove_webhook(api: Api, args: argparse.Namespace) -> int:
    api.delete(f"/api/webhooks/{args.id}")
    print(f"Removed webhook {args.id}.")
    return 0
