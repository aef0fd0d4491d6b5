"""`berth domains list|add|remove APP [HOSTNAME|ID]`: an app's custom hostnames and their TLS."""

from __future__ import annotations

import argparse

from berth_cli.client import Api
from berth_cli.output import ago, print_json, table


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    domains = sub.add_parser("domains", help="an app's custom hostnames, their verification and TLS status")
    verbs = domains.add_subparsers(dest="verb", required=True)
    ls = verbs.add_parser("list", help="list the app's hostnames")
    ls.add_argument("app")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=list_domains)
    add = verbs.add_parser("add", help="attach a hostname; point its DNS (CNAME) at the app's generated hostname")
    add.add_argument("app")
    add.add_argument("hostname")
    add.add_argument("--json", action="store_true")
    add.set_defaults(func=add_domain)
    remove = verbs.add_parser("remove", help="detach a hostname (by hostname or id); it stops being routed")
    remove.add_argument("app")
    remove.add_argument("domain", metavar="HOSTNAME|ID")
    remove.add_argument("--json", action="store_true")
    remove.set_defaults(func=remove_domain)


def list_domains(api: Api, args: argparse.Namespace) -> int:
    items = api.get(f"/api/apps/{args.app}/domains")["items"]
    if args.json:
        print_json(items)
        return 0
    if not items:
        print(f"no domains attached to {args.app}; add one with `berth domains add {args.app} HOSTNAME`")
        return 0
    rows = [
        (d["hostname"], d["tlsStatus"], d.get("tlsIssuer", "-"), verified(d), d["proxyTarget"], d["id"]) for d in items
    ]
    print(table(rows, ["hostname", "tls", "ca", "verified", "point dns at", "id"]))
    return 0


def verified(domain: dict[str, str]) -> str:
    """When the router saw the name lead here; local names (internal CA) need no verification."""
    if domain.get("verifiedAt"):
        return ago(domain["verifiedAt"])
    return "not needed" if domain.get("tlsIssuer") == "internal" else "not yet"


def add_domain(api: Api, args: argparse.Namespace) -> int:
    domain = api.post(f"/api/apps/{args.app}/domains", json={"hostname": args.hostname})
    if args.json:
        print_json(domain)
        return 0
    print(f"attached {domain['hostname']} to {args.app} (tls: {domain['tlsStatus']})")
    print(f"point its DNS at {domain['proxyTarget']} (CNAME) or at this host's address (A/AAAA)")
    return 0


def remove_domain(api: Api, args: argparse.Namespace) -> int:
    domain = api.delete(f"/api/apps/{args.app}/domains/{args.domain}")
    if args.json:
        print_json(domain)
        return 0
    print(f"detached {domain['hostname']} from {args.app}")
    return 0
