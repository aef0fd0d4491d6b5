"""The embedded Caddy: command line and the bootstrap config (admin API on 127.0.0.1 only).

The router owns everything else in Caddy's config and loads it through the admin API.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path


def binary() -> str:
    found = shutil.which("caddy", path=str(Path(sys.executable).parent)) or shutil.which("caddy")
    if not found:
        raise FileNotFoundError("caddy not found; run `make up` to install it")
    return found


def bootstrap_config(admin_port: int) -> str:
    return json.dumps(
        {
            "admin": {"listen": f"127.0.0.1:{admin_port}"},
            "logging": {"logs": {"default": {"level": "WARN"}}},
        }
    )


def command(config_file: Path) -> list[str]:
    # --resume: after a crash Caddy comes back with the router's last config at once.
    return [binary(), "run", "--config", str(config_file), "--resume"]


def environment(caddy_dir: Path) -> dict[str, str]:
    return {
        "XDG_DATA_HOME": str(caddy_dir / "data"),
        "XDG_CONFIG_HOME": str(caddy_dir / "config"),
        "HOME": str(caddy_dir),
        # A smaller heap: collect earlier (Caddy's garbage is mostly short-lived request state).
        "GOGC": "50",
    }
