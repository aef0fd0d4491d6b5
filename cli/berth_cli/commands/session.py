"""`berth login`: store the API address and token in the user's config (mode 0600)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from berth_cli.client import EXIT_USAGE, Api, CliError, Config, save_config


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    login = sub.add_parser("login", help="store the API URL and token for later commands")
    login.add_argument("--url", default=os.environ.get("BERTH_URL", "http://127.0.0.1:8000"))
    login.add_argument("--token", help="the token (default: BERTH_TOKEN, then a hidden prompt or stdin)")
    login.set_defaults(func=login_cmd, needs_api=False)


def login_cmd(_: Api | None, args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("BERTH_TOKEN")
    if not token:
        token = getpass.getpass("Token: ") if sys.stdin.isatty() else sys.stdin.readline()
    token = token.strip()
    if not token:
        raise CliError("no token given", EXIT_USAGE)
    Api(Config(url=args.url, token=token)).get("/api/apps")  # fails clearly if URL or token is wrong
    path = save_config(args.url, token)
    print(f"Logged in to {args.url}; saved to {path}")
    return 0
