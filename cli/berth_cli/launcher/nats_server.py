"""The embedded NATS server with JetStream: its config (pure) and command line.

Each service gets its own user whose permissions cover only its own subjects, plus the
JetStream API and acks it needs. An ``observer`` user may only subscribe (for tests/tools).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

# publish / subscribe allow-lists per NATS user (see docs/architecture.md).
_JS = ["$JS.API.>", "$JS.ACK.>"]
PERMISSIONS: dict[str, dict[str, list[str]]] = {
    "api": {
        "publish": [
            "berth.evt.api.>",
            "berth.cmd.agent.*.>",
            "berth.rpc.agent.>",
            "berth.rpc.logs.>",
            "berth.rpc.health.>",
            "$O.BERTH_BUILDS.>",  # build contexts into the object store
            *_JS,
        ],
        "subscribe": ["berth.rpc.api.>", "_INBOX.>"],
    },
    "agent": {
        # $JS.FC: flow-control replies while reading build contexts from the object store.
        "publish": ["berth.evt.agent.>", "berth.rpc.api.desired.>", "berth.logs.>", "$JS.FC.>", *_JS],
        "subscribe": ["berth.rpc.agent.>", "_INBOX.>"],
    },
    "router": {
        # berth.logs.*.proxy: routing failures and TLS progress, written into each app's logs.
        "publish": ["berth.evt.router.>", "berth.logs.*.proxy", *_JS],
        "subscribe": ["berth.rpc.router.>", "_INBOX.>"],
    },
    "logs": {
        "publish": ["berth.evt.logs.>", *_JS],
        "subscribe": ["berth.rpc.logs.>", "_INBOX.>"],
    },
    "health": {
        "publish": ["berth.evt.health.>", *_JS],
        "subscribe": ["berth.rpc.health.>", "_INBOX.>"],
    },
}


def render_config(*, port: int, store_dir: Path, passwords: dict[str, str], observer_password: str) -> str:
    """nats-server configuration text. JSON values are valid NATS config syntax."""
    users = []
    for user, perms in PERMISSIONS.items():
        users.append(
            {
                "user": user,
                "password": passwords[user],
                "permissions": {
                    "publish": {"allow": perms["publish"]},
                    "subscribe": {"allow": perms["subscribe"]},
                    "allow_responses": True,
                },
            }
        )
    users.append(
        {
            "user": "observer",
            "password": observer_password,
            "permissions": {"publish": {"allow": ["$JS.API.>", "_INBOX.>"]}, "subscribe": {"allow": [">"]}},
        }
    )
    config = {
        "server_name": "berth",
        "listen": f"127.0.0.1:{port}",
        "max_payload": 8 * 1024 * 1024,
        "jetstream": {"store_dir": str(store_dir), "max_memory_store": 64 * 1024 * 1024},
        "authorization": {"users": users},
    }
    return json.dumps(config, indent=2)


def binary() -> str:
    found = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or shutil.which("nats-server")
    if not found:
        raise FileNotFoundError("nats-server not found; run `make up` to install it")
    return found


def command(config_file: Path) -> list[str]:
    return [binary(), "-c", str(config_file)]
