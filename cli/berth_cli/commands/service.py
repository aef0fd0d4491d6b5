"""`berth service install|uninstall`: run the platform under systemd, so it (and with it every
app) comes back after a reboot. The unit runs `berth up` in the foreground, as a terminal would.

``--root DIR`` writes and enables everything under DIR instead of ``/`` (an image being
prepared, or a test): nothing is started and the running systemd is not told.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from berth_shared.settings import Settings

from berth_cli.client import EXIT_USAGE, Api, CliError
from berth_cli.launcher import systemd_unit as su
from berth_cli.launcher.home import write_private


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    service = sub.add_parser("service", help="run the platform as a systemd service (comes back after reboots)")
    verbs = service.add_subparsers(dest="verb", required=True)
    install = verbs.add_parser("install", help="write and enable berth.service (settings from this environment)")
    install.add_argument("--root", type=Path, default=Path("/"), help="install under DIR instead of / (no start)")
    install.add_argument("--now", action="store_true", help="also start it now")
    install.set_defaults(func=install_cmd, needs_api=False)
    uninstall = verbs.add_parser("uninstall", help="stop, disable and remove berth.service")
    uninstall.add_argument("--root", type=Path, default=Path("/"), help="remove it from under DIR instead of /")
    uninstall.set_defaults(func=uninstall_cmd, needs_api=False)


def berth_executable() -> Path:
    """This installation's `berth` (beside the running interpreter, e.g. in .venv/bin)."""
    beside = Path(sys.executable).parent / "berth"
    if beside.exists():
        return beside.absolute()
    found = shutil.which("berth")
    if found is None:
        raise CliError("cannot find the `berth` executable to run from the unit", 1)
    return Path(found).absolute()


def _systemctl(*args: str) -> None:
    if shutil.which("systemctl") is None:
        raise CliError("systemctl not found: `berth service` needs systemd (run `berth up` in the foreground)", 1)
    result = subprocess.run(["systemctl", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise CliError(f"systemctl {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()}", 1)


def _systemd_running(root: Path) -> bool:
    return root == Path("/") and Path("/run/systemd/system").is_dir()


def _root_args(root: Path) -> list[str]:
    return [] if root == Path("/") else [f"--root={root}"]


def install_cmd(_: Api | None, args: argparse.Namespace) -> int:
    root: Path = args.root.absolute()
    if args.now and root != Path("/"):
        raise CliError("--now starts the unit on this host; it cannot be combined with --root", EXIT_USAGE)
    settings = Settings.from_env()
    unit_path = su.under(root, su.UNIT_DIR / su.UNIT_NAME)
    env_path = su.under(root, su.ENV_FILE)
    unit = su.render_unit(su.UnitSpec(berth=berth_executable(), env_file=su.ENV_FILE))
    env_text = su.render_env_file(su.service_settings(os.environ, settings.home))
    try:
        env_path.parent.mkdir(parents=True, exist_ok=True)
        env_path.parent.chmod(0o700)
        write_private(env_path, env_text)
        unit_path.parent.mkdir(parents=True, exist_ok=True)
        write_private(unit_path, unit)
        unit_path.chmod(0o644)
    except OSError as exc:
        raise CliError(f"cannot write the unit: {exc} (run as root)", 1) from None
    running = _systemd_running(root)
    if running:
        _systemctl("daemon-reload")
    _systemctl(*_root_args(root), "enable", *(["--now"] if args.now and running else []), su.UNIT_NAME)
    print(f"Wrote {unit_path} and {env_path} (settings: BERTH_HOME={settings.home}); enabled {su.UNIT_NAME}.")
    if "BERTH_MASTER_KEY" in os.environ:
        print(f"  BERTH_MASTER_KEY is in {env_path} (mode 0600), as the service needs it.")
    if root != Path("/"):
        print(f"  Under {root}: nothing was started.")
    elif not running:
        print("  systemd is not running here: the unit starts at the next boot.")
    elif args.now:
        print("  Started. Follow it with `journalctl -u berth -f`.")
    else:
        print("  Start it with `systemctl start berth` (stop a `berth up` running in a terminal first).")
    return 0


def uninstall_cmd(_: Api | None, args: argparse.Namespace) -> int:
    root: Path = args.root.absolute()
    unit_path = su.under(root, su.UNIT_DIR / su.UNIT_NAME)
    env_path = su.under(root, su.ENV_FILE)
    if not unit_path.exists():
        raise CliError(f"{unit_path} does not exist: the service is not installed", 5)
    running = _systemd_running(root)
    _systemctl(*_root_args(root), "disable", *(["--now"] if running else []), su.UNIT_NAME)
    unit_path.unlink()
    env_path.unlink(missing_ok=True)
    with_parent = env_path.parent
    if with_parent.exists() and not any(with_parent.iterdir()):
        with_parent.rmdir()
    if running:
        _systemctl("daemon-reload")
    stopped = " (stopped: apps are not served until Berth runs again)" if running else ""
    print(f"Removed {unit_path} and {env_path}; {su.UNIT_NAME} is disabled{stopped}.")
    return 0
