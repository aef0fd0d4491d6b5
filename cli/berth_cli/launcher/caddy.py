"""The embedded Caddy: command line and the bootstrap config (admin API on a Unix socket only).

The router owns everything else in Caddy's config and loads it through the admin API.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from berth_cli.launcher.supervisor import minimal_env


def binary() -> str:
    found = shutil.which("caddy", path=str(Path(sys.executable).parent)) or shutil.which("caddy")
    if not found:
        raise FileNotFoundError("caddy not found; run `make up` to install it")
    return found


def admin_listen(socket_path: Path) -> str:
    """The admin API on a Unix socket Caddy creates with mode 0600 (the router renders the same)."""
    return f"unix/{socket_path}|0600"


def bootstrap_config(admin_socket: Path) -> str:
    return json.dumps(
        {
            "admin": {"listen": admin_listen(admin_socket)},
            "logging": {"logs": {"default": {"level": "WARN"}}},
        }
    )


def command(config_file: Path) -> list[str]:
    # --resume: after a crash Caddy comes back with the router's last config at once.
    return [binary(), "run", "--config", str(config_file), "--resume"]


def environment(caddy_dir: Path) -> dict[str, str]:
    """Caddy's whole environment (the launcher's is not inherited)."""
    return minimal_env(
        caddy_dir,
        XDG_DATA_HOME=str(caddy_dir / "data"),
        XDG_CONFIG_HOME=str(caddy_dir / "config"),
        # A smaller heap: collect earlier (Caddy's garbage is mostly short-lived request state).
        GOGC="50",
    )
