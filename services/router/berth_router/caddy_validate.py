"""Asks Caddy's own binary whether a config would load (``caddy validate``), beside the running
Caddy and without touching it: provisioning runs, nothing listens and nothing is stored.

Used only after Caddy refused a load, to find which app's routes it refuses (ADR 13): one
run costs ~20 ms and ~45 MB for its lifetime, so it is never on the normal path.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

VALIDATE_TIMEOUT = 30.0
# Caddy's last log line names the first thing it refused; long messages are cut for logs.
MAX_REASON = 500


class CaddyUnavailable(Exception):
    """No caddy binary, or it did not answer: nothing can be said about the config."""


def binary() -> str:
    found = shutil.which("caddy", path=str(Path(sys.executable).parent)) or shutil.which("caddy")
    if not found:
        raise CaddyUnavailable("caddy not found beside the router's Python or on PATH")
    return found


def validation_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config as Caddy would load it, minus what a dry run must not touch: no admin
    endpoint, and logs only on stderr (the router's log sink is not for dry runs)."""
    return {**config, "admin": {"disabled": True}, "logging": {"logs": {"default": {"level": "ERROR"}}}}


def refusal_of(stderr: str) -> str:
    """Caddy's reason from ``caddy validate``'s output: the ``error`` of its last JSON line."""
    for line in reversed(stderr.strip().splitlines()):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") == "error" and entry.get("msg"):
            return str(entry["msg"])[:MAX_REASON]
    return (stderr.strip().splitlines() or ["caddy refused the config"])[-1][:MAX_REASON]


async def refusal(config: dict[str, Any]) -> str | None:
    """``None`` when Caddy would load ``config``; otherwise Caddy's reason."""
    with tempfile.TemporaryDirectory(prefix="berth-validate-") as scratch:
        path = Path(scratch) / "config.json"
        path.write_text(json.dumps(validation_config(config)))
        env = {"PATH": "/usr/bin:/bin", "HOME": scratch, "XDG_DATA_HOME": scratch, "XDG_CONFIG_HOME": scratch}
        proc = await asyncio.create_subprocess_exec(
            binary(),
            "validate",
            "--config",
            str(path),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(), VALIDATE_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise CaddyUnavailable(f"caddy validate gave no answer within {VALIDATE_TIMEOUT:g}s") from None
    if proc.returncode == 0:
        return None
    return refusal_of(err.decode("utf-8", errors="replace"))
