"""`berth tokens create|list|revoke` (named API tokens with scopes) and `berth token rotate`
(a new admin token; every session ends).

After a rotation the old admin token no longer works anywhere, so the CLI replaces it where
it keeps it: in its own config (from `berth login`) when that held the old value, and in
``$BERTH_HOME/admin-token`` (this host's copy, which `berth up` prints from) when that file
exists, held the old value and can be written. Anything else holding the old value is named
on stderr; the new value is printed once on stdout."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from berth_cli.client import EXIT_USAGE, Api, CliError, config_path, save_config
from berth_cli.launcher.home import write_private
from berth_cli.output import ago, print_json, table

SCOPES = ("read", "deploy", "admin")
DURATION = re.compile(r"^(\d{1,6})([mhdw])$")
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tokens = sub.add_parser("tokens", help="named API tokens with scopes: read, deploy, admin")
    verbs = tokens.add_subparsers(dest="verb", required=True)
    create = verbs.add_parser("create", help="make a token; its value is printed once")
    create.add_argument("name")
    create.add_argument("--scope", choices=SCOPES, required=True)
    create.add_argument("--app", action="append", dest="apps", metavar="APP", help="limit a deploy token to APP")
    create.add_argument("--expires", metavar="WHEN", help="a duration (30d, 12h, 2w) or an ISO 8601 time")
    create.add_argument("--json", action="store_true")
    create.set_defaults(func=create_token)
    ls = verbs.add_parser("list", help="list tokens (never their values)")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=list_tokens)
    revoke = verbs.add_parser("revoke", help="revoke a token (by id or name) and end its dashboard sessions")
    revoke.add_argument("token", metavar="ID|NAME")
    revoke.add_argument("--json", action="store_true")
    revoke.set_defaults(func=revoke_token)

    token = sub.add_parser("token", help="the admin token")
    token_verbs = token.add_subparsers(dest="verb", required=True)
    rotate = token_verbs.add_parser("rotate", help="replace the admin token; the old one and every session end")
    rotate.add_argument("--json", action="store_true")
    rotate.set_defaults(func=rotate_token)


def expiry(value: str | None, now: datetime) -> str | None:
    """``--expires``: a duration from ``now`` or an ISO 8601 time, as an ISO time (pure)."""
    if value is None:
        return None
    if m := DURATION.match(value.strip()):
        return (now + timedelta(seconds=int(m.group(1)) * UNIT_SECONDS[m.group(2)])).isoformat()
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        message = f"--expires: {value!r} is neither a duration like 30d, 12h, 2w nor an ISO 8601 time"
        raise CliError(message, EXIT_USAGE) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()


def create_token(api: Api, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"name": args.name, "scope": args.scope}
    if args.apps:
        body["apps"] = args.apps
    if args.expires:
        body["expiresAt"] = expiry(args.expires, datetime.now(UTC))
    token = api.post("/api/tokens", json=body)
    if args.json:
        print_json(token)
        return 0
    limited = f" for {', '.join(token['apps'])}" if token["apps"] else ""
    until = f", expires {token['expiresAt']}" if token["expiresAt"] else ""
    print(f"created token {token['name']} ({token['scope']}{limited}{until}), id {token['id']}", file=sys.stderr)
    print("its value, shown this once:", file=sys.stderr)
    print(token["token"])
    return 0


def list_tokens(api: Api, args: argparse.Namespace) -> int:
    items = api.get("/api/tokens")["items"]
    if args.json:
        print_json(items)
        return 0
    rows = [
        (
            t["name"],
            t["scope"] + (" (the admin token)" if t["root"] else ""),
            ", ".join(t["apps"]) if t["apps"] is not None else "all",
            ago(t["createdAt"]),
            ago(t["lastUsedAt"]) if t["lastUsedAt"] else "never",
            ("expired " if t["expired"] else "") + (t["expiresAt"] or "never"),
            t["id"],
        )
        for t in items
    ]
    print(table(rows, ["name", "scope", "apps", "created", "last used", "expires", "id"]))
    return 0


def revoke_token(api: Api, args: argparse.Namespace) -> int:
    result = api.delete(f"/api/tokens/{args.token}")
    if args.json:
        print_json(result)
        return 0
    print(f"revoked token {result['name']} ({result['id']}); {result['sessionsRevoked']} dashboard session(s) ended")
    return 0


def berth_home() -> Path:
    return Path(os.environ.get("BERTH_HOME") or Path.home() / ".berth").expanduser()


def _stored_token() -> str | None:
    path = config_path()
    try:
        token = json.loads(path.read_text()).get("token")
    except (OSError, ValueError, AttributeError):
        return None
    return token if isinstance(token, str) else None


def replace_copies(api: Api, old: str, new: str, *, caller_rotated: bool) -> list[str]:
    """Put ``new`` where the CLI and this host kept ``old`` (the admin token's value before the
    rotation); lines saying what was done. ``caller_rotated``: the CLI's token was the admin
    token (else it was another admin-scope token, still valid, and only the file is stale)."""
    if not caller_rotated:
        return [f"{berth_home() / 'admin-token'}, if this host has one, still holds the old admin token"]
    notes = []
    if _stored_token() == old:
        notes.append(f"updated the token saved by `berth login` ({save_config(api.config.url, new)})")
    elif os.environ.get("BERTH_TOKEN") == old:
        notes.append("BERTH_TOKEN still holds the old token: set it to the new one")
    token_file = berth_home() / "admin-token"
    try:
        held = token_file.read_text().strip()
    except OSError:
        return notes
    if held != old:
        notes.append(f"{token_file} holds another token; left as it is")
    elif not os.access(token_file, os.W_OK) or not os.access(token_file.parent, os.W_OK):
        notes.append(f"{token_file} holds the old token but cannot be written here; replace it by hand")
    else:
        write_private(token_file, new + "\n")
        notes.append(f"updated {token_file}")
    return notes


def rotate_token(api: Api, args: argparse.Namespace) -> int:
    result = api.post("/api/tokens/rotate")
    notes = replace_copies(api, api.config.token or "", result["token"], caller_rotated=result["rotatedOwnToken"])
    if args.json:
        print_json({**result, "notes": notes})
        return 0
    print(f"rotated the admin token; the old one no longer works; {result['sessionsRevoked']} session(s) ended",
          file=sys.stderr)  # fmt: skip
    for note in notes:
        print(note, file=sys.stderr)
    print("the new admin token, shown this once:", file=sys.stderr)
    print(result["token"])
    return 0
