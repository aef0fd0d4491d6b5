"""`berth`: the command-line front door. `berth up` runs the platform on this host."""

from __future__ import annotations

import argparse
import logging
import sys

from berth_shared.errors import BerthError
from berth_shared.settings import Settings

EXIT_ERROR, EXIT_USAGE = 1, 2  # the full table of exit codes is in berth_cli.client


def _announce(platform: object) -> None:
    from berth_cli.launcher import ports
    from berth_cli.launcher.platform import Platform

    assert isinstance(platform, Platform)
    s = platform.settings
    lines = [
        "Berth is up.",
        f"  API        http://127.0.0.1:{s.api_port}  (health: /healthz)",
        f"  Apps       http://<app>.{s.domain}" + ("" if s.http_port == 80 else f":{s.http_port}"),
        f"  Home       {s.home}  (process logs in {s.home / 'logs'})",
        "  Ports      " + "\n             ".join(ports.describe(s)),
    ]
    if platform.admin_token_created:
        lines += [
            "",
            f"  Admin token (shown once; also stored with mode 0600 in {platform.home.admin_token_file}):",
            f"    {platform.admin_token}",
        ]
    lines += ["", "Press Ctrl-C to stop."]
    print("\n".join(lines), flush=True)


def cmd_up(_: argparse.Namespace) -> int:
    from berth_cli.launcher.platform import AlreadyRunning, Platform, run_forever

    logging.basicConfig(level=logging.WARNING, format="berth: %(message)s")
    settings = Settings.from_env()
    platform = Platform(settings, on_event=lambda text: print(f"berth: {text}", file=sys.stderr, flush=True))
    try:
        return run_forever(platform, _announce)
    except AlreadyRunning as exc:
        print(f"berth: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (RuntimeError, OSError) as exc:
        print(f"berth: could not start: {exc} (process logs: {settings.home / 'logs'})", file=sys.stderr)
        return EXIT_ERROR


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="berth",
        description="Berth: a personal cloud on your own server. Set BERTH_URL and BERTH_TOKEN, or run `berth login`.",
    )
    from berth_cli.commands import (
        apps,
        cron,
        domains,
        env,
        health,
        logs,
        platform,
        processes,
        releases,
        runs,
        service,
        session,
        tokens,
    )

    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run the platform on this host in the foreground")
    up.set_defaults(func=lambda _api, args: cmd_up(args), needs_api=False)
    families = (session, apps, releases, processes, runs, cron, env, logs, health, domains, tokens, service, platform)
    for family in families:
        family.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in == ["up"]:
        # The supervisor runs for as long as the platform does: it imports nothing it does not use.
        return cmd_up(argparse.Namespace())
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and EXIT_USAGE
    from berth_cli.client import Api, CliError, load_config

    try:
        api = Api(load_config()) if getattr(args, "needs_api", True) else None
        return int(args.func(api, args))
    except CliError as exc:
        print(f"berth: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except BerthError as exc:
        print(f"berth: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
