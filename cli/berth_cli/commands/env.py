"""`berth env list|set|unset` and `berth secrets rotate-key`. Values are never echoed back."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from berth_cli.client import EXIT_USAGE, Api, CliError
from berth_cli.output import ago, print_json, table


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    env = sub.add_parser("env", help="an app's environment variables (encrypted at rest)")
    verbs = env.add_subparsers(dest="verb", required=True)
    ls = verbs.add_parser("list", help="list keys with masked values")
    ls.add_argument("app")
    ls.add_argument("--reveal", action="store_true", help="show values (recorded in the audit log)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=list_env)
    set_ = verbs.add_parser("set", help="set variables: KEY=VALUE arguments, --file .env, or `-` for stdin")
    set_.add_argument("app")
    set_.add_argument("pairs", nargs="*", metavar="KEY=VALUE")
    set_.add_argument("--file", type=Path, help="a dotenv file")
    set_.add_argument("--no-deploy", action="store_true", help="store for the next deploy, no rollout now")
    set_.set_defaults(func=set_env)
    unset = verbs.add_parser("unset", help="remove variables")
    unset.add_argument("app")
    unset.add_argument("keys", nargs="+", metavar="KEY")
    unset.add_argument("--no-deploy", action="store_true")
    unset.set_defaults(func=unset_env)
    secrets = sub.add_parser("secrets", help="the master key that encrypts env values")
    sverbs = secrets.add_subparsers(dest="verb", required=True)
    rotate = sverbs.add_parser("rotate-key", help="re-encrypt every value under a new key, then retire the old one")
    rotate.add_argument("--json", action="store_true")
    rotate.set_defaults(func=rotate_key)


def parse_dotenv(text: str) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and # comments skipped; `export ` and matching quotes stripped (pure)."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise CliError(f"line {number}: expected KEY=VALUE", EXIT_USAGE)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def collect_values(pairs: list[str], file: Path | None) -> dict[str, str]:
    values: dict[str, str] = {}
    if file is not None:
        values.update(parse_dotenv(file.read_text()))
    for pair in pairs:
        if pair == "-":
            values.update(parse_dotenv(sys.stdin.read()))
            continue
        key, sep, value = pair.partition("=")
        if not sep:
            raise CliError(f"{pair!r}: expected KEY=VALUE", EXIT_USAGE)
        values[key] = value
    if not values:
        raise CliError("nothing to set: give KEY=VALUE, --file FILE or `-` for stdin", EXIT_USAGE)
    return values


def list_env(api: Api, args: argparse.Namespace) -> int:
    params = {"reveal": "true"} if args.reveal else None
    items = api.get(f"/api/apps/{args.app}/env", params=params)["items"]
    if args.json:
        print_json(items)
        return 0
    if not items:
        print(f"{args.app} has no environment variables. Set some with `berth env set {args.app} KEY=VALUE`.")
        return 0
    print(table([(i["key"], i["value"], ago(i["updatedAt"])) for i in items], ["key", "value", "updated"]))
    return 0


def _change(api: Api, app: str, body: dict[str, object], no_deploy: bool) -> int:
    params = {"deploy": "false"} if no_deploy else None
    result = api.post(f"/api/apps/{app}/env", json=body, params=params)
    release = (result or {}).get("release")
    keys = sorted(body.get("vars", {})) + sorted(body.get("unset", []))  # type: ignore[call-overload]
    if release:
        print(f"Changed {', '.join(keys)}; rolling out as release v{release['version']} (see `berth releases {app}`).")
    else:
        print(f"Changed {', '.join(keys)}; applied at the next deploy.")
    return 0


def set_env(api: Api, args: argparse.Namespace) -> int:
    return _change(api, args.app, {"vars": collect_values(args.pairs, args.file)}, args.no_deploy)


def unset_env(api: Api, args: argparse.Namespace) -> int:
    return _change(api, args.app, {"unset": args.keys}, args.no_deploy)


def rotate_key(api: Api, args: argparse.Namespace) -> int:
    result = api.post("/api/secrets/rotate-key")
    if args.json:
        print_json(result)
    else:
        print(result.get("message") or "Key rotated.")
    return 0
