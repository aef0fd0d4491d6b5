"""`berth platform backup [FILE]` and `berth platform restore FILE`: Berth's own state in one
file sealed under the master key (see berth_cli.launcher.backup). Both run on the platform's
host with its settings (BERTH_HOME, ...); neither needs the API.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path

from berth_shared.settings import Settings

from berth_cli.client import Api, CliError
from berth_cli.launcher import backup_archive, backup_keys, restore_plan
from berth_cli.launcher.backup import BackupError, make_backup, restore
from berth_cli.output import print_json, table

SUFFIX = ".berthbak"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    platform = sub.add_parser("platform", help="Berth's own state: backup and restore")
    verbs = platform.add_subparsers(dest="verb", required=True)
    backup = verbs.add_parser("backup", help="write Berth's state to FILE, sealed under the master key")
    backup.add_argument("file", nargs="?", type=Path, help=f"default: berth-YYYYmmdd-HHMMSS{SUFFIX} here")
    backup.add_argument("--json", action="store_true")
    backup.set_defaults(func=backup_cmd, needs_api=False)
    rest = verbs.add_parser("restore", help="restore FILE into an empty BERTH_HOME, then run `berth up`")
    rest.add_argument("file", type=Path)
    rest.add_argument(
        "--keyring", type=Path, help="the old host's master.key (default: $BERTH_HOME/master.key or BERTH_MASTER_KEY)"
    )
    rest.add_argument("--json", action="store_true")
    rest.set_defaults(func=restore_cmd, needs_api=False)


def default_name(now: datetime) -> Path:
    return Path(f"berth-{now.strftime('%Y%m%d-%H%M%S')}{SUFFIX}")


def _fail(exc: Exception) -> CliError:
    return CliError(str(exc), 1)


def backup_cmd(_: Api | None, args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    dest = args.file or default_name(datetime.now(UTC))
    try:
        result = make_backup(settings, dest, os.environ)
    except (BackupError, backup_keys.BackupKeyError, backup_archive.ArchiveError) as exc:
        raise _fail(exc) from None
    if args.json:
        print_json(
            {"path": str(result.path), "keyId": result.key_id, "sizeBytes": result.size_bytes, "files": result.files}
        )
        return 0
    print(f"Wrote {result.path} ({result.size_bytes:,} bytes), sealed under master key {result.key_id}.")
    print("  Keep the master key apart from it: the backup does not contain it and opens with nothing else.")
    return 0


def restore_cmd(_: Api | None, args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    try:
        result = restore(settings, args.file, os.environ, args.keyring)
    except (BackupError, backup_keys.BackupKeyError, backup_archive.ArchiveError) as exc:
        raise _fail(exc) from None
    lost = [r for r in result.recoveries if r.outcome == restore_plan.LOST]
    if args.json:
        print_json(
            {
                "home": str(result.home),
                "keyId": result.key_id,
                "backupCreatedAt": result.created_at,
                "apps": [
                    {"app": r.app, "image": r.image, "outcome": r.outcome, "pulled": r.pull_ref, "why": r.why}
                    for r in result.recoveries
                ],
                "warnings": result.warnings,
            }
        )
        return 0
    print(f"Restored the backup of {result.created_at} into {result.home} (master key {result.key_id}).")
    if result.recoveries:
        rows = [[r.app, r.image, r.outcome, r.why] for r in result.recoveries]
        print(table(rows, ["APP", "IMAGE", "COMES BACK", "WHY"]))
    for warning in result.warnings:
        print(f"warning: {warning}")
    if lost:
        print(f"{len(lost)} app(s) cannot come back as they were (see WHY); every other app starts with the platform.")
    print("Start the platform: `berth up` (or `systemctl start berth` once `berth service install` has run).")
    return 0
