"""The embedded NATS server with JetStream: its config (pure) and command line.

Least privilege per service identity (the table is in docs/architecture.md):

* each service publishes only the subjects it produces and the queries it sends, and
  subscribes only to its own query subjects and its own inbox prefix (``_INBOX_<user>``, see
  ``berth_shared.identities``); responders answer through ``allow_responses``;
* of the JetStream API, each may use only ``$JS.API.INFO``, ``STREAM.INFO`` of the streams it
  uses, and info/create/next/ack of its own durable consumers (``streams.OWNED_CONSUMERS``);
  the build-context bucket only for the API (writer) and the runtime agent (reader);
* nobody at run time may create, change, list, purge or delete a stream: a provisioning
  identity exists only while ``berth up`` starts (``berth_shared.provision``);
* an ``observer`` (subscribe to everything, any JetStream API) exists only when the launcher
  is explicitly asked for it (tests), never in a normal ``berth up``.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from berth_shared.contracts.builds import BUILDS_BUCKET
from berth_shared.contracts.domains import DOMAIN_STATES_LIST
from berth_shared.contracts.owner_state import APPS_LIST
from berth_shared.contracts.slots import SLOT_SWITCH, serving_slots_subject
from berth_shared.identities import inbox_prefix
from berth_shared.streams import COMMANDS, EVENTS, LOGS, OWNED_CONSUMERS

JS = "$JS.API"
BUILDS_STREAM = f"OBJ_{BUILDS_BUCKET}"
PROVISIONER = "provision"
OBSERVER = "observer"


def _own_consumers(user: str) -> list[str]:
    rights: list[str] = []
    for stream, durable in OWNED_CONSUMERS.get(user, ()):
        rights += [
            f"{JS}.CONSUMER.INFO.{stream}.{durable}",
            f"{JS}.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
            f"{JS}.CONSUMER.MSG.NEXT.{stream}.{durable}",
            f"$JS.ACK.{stream}.{durable}.>",
        ]
    return rights


def _streams(*names: str) -> list[str]:
    return [f"{JS}.STREAM.INFO.{name}" for name in names]


# Reading the build-context bucket: its metadata (last message per subject) and an ordered
# ephemeral consumer over an object's chunks, with flow control.
_BUILDS_READ = [
    *_streams(BUILDS_STREAM),
    f"{JS}.STREAM.NAMES",
    f"{JS}.STREAM.MSG.GET.{BUILDS_STREAM}",
    f"{JS}.DIRECT.GET.{BUILDS_STREAM}",
    f"{JS}.DIRECT.GET.{BUILDS_STREAM}.>",
    f"{JS}.CONSUMER.CREATE.{BUILDS_STREAM}",
    f"{JS}.CONSUMER.CREATE.{BUILDS_STREAM}.>",
    f"{JS}.CONSUMER.DELETE.{BUILDS_STREAM}.*",
    f"$JS.FC.{BUILDS_STREAM}.>",
]
# Writing it: the API stores each context (chunks and metadata), never reads chunks back.
_BUILDS_WRITE = [
    *_streams(BUILDS_STREAM),
    f"{JS}.STREAM.MSG.GET.{BUILDS_STREAM}",
    f"{JS}.DIRECT.GET.{BUILDS_STREAM}",
    f"{JS}.DIRECT.GET.{BUILDS_STREAM}.>",
    f"$O.{BUILDS_BUCKET}.>",
]

# publish / subscribe allow-lists per NATS user, besides their own inbox and consumers.
_SUBJECTS: dict[str, dict[str, list[str]]] = {
    "api": {
        "publish": [
            "berth.evt.api.>",
            "berth.cmd.agent.*.>",
            "berth.rpc.agent.>",
            "berth.rpc.logs.>",
            "berth.rpc.health.>",
            # The router's one query: every hostname's state, to repair lost domain events.
            DOMAIN_STATES_LIST,
            *_streams(COMMANDS.name, EVENTS.name),
            *_BUILDS_WRITE,
            # An attached run's stdin (ADR 0026 §5; core NATS, in no stream).
            "berth.run.*.*.in",
        ],
        # Attached runs' output, relayed to `berth run` (only the agent writes it).
        "subscribe": ["berth.rpc.api.>", "berth.run.*.*.out"],
    },
    "agent": {
        # The only identity that may ask for desired state (whose replies carry sealed env).
        "publish": [
            "berth.evt.agent.>",
            "berth.rpc.api.desired.>",
            # The one query it sends the router: switch an app's live slot (ADR 0025).
            SLOT_SWITCH,
            "berth.logs.>",
            *_streams(COMMANDS.name, EVENTS.name, LOGS.name),
            *_BUILDS_READ,
            # Attached runs' output (ADR 0026 §5; core NATS, in no stream).
            "berth.run.*.*.out",
        ],
        # Attached runs' stdin (only the API writes it).
        "subscribe": ["berth.rpc.agent.>", "berth.run.*.*.in"],
    },
    "router": {
        # berth.logs.*.proxy: routing failures and TLS progress, written into each app's logs.
        # APPS_LIST: the owner's state, to repair routes from lost app events (ADR 0018).
        # The agents' serving slots: the live-slot table back after a restart (ADR 0025).
        "publish": [
            "berth.evt.router.>",
            "berth.logs.*.proxy",
            APPS_LIST,
            serving_slots_subject("*"),
            *_streams(EVENTS.name, LOGS.name),
        ],
        "subscribe": ["berth.rpc.router.>"],
    },
    "logs": {
        "publish": ["berth.evt.logs.>", APPS_LIST, *_streams(EVENTS.name, LOGS.name)],
        "subscribe": ["berth.rpc.logs.>"],
    },
    "health": {
        "publish": ["berth.evt.health.>", APPS_LIST, *_streams(EVENTS.name)],
        "subscribe": ["berth.rpc.health.>"],
    },
}


def permissions(user: str) -> dict[str, list[str]]:
    """What service identity ``user`` may publish and subscribe to."""
    subjects = _SUBJECTS[user]
    return {
        "publish": [*subjects["publish"], f"{JS}.INFO", *_own_consumers(user)],
        "subscribe": [*subjects["subscribe"], f"{inbox_prefix(user)}.>"],
    }


PERMISSIONS: dict[str, dict[str, list[str]]] = {user: permissions(user) for user in _SUBJECTS}


def _user(name: str, password: str, publish: list[str], subscribe: list[str], responds: bool) -> dict[str, object]:
    perms: dict[str, object] = {"publish": {"allow": publish}, "subscribe": {"allow": subscribe}}
    if responds:
        perms["allow_responses"] = True
    return {"user": name, "password": password, "permissions": perms}


def render_config(
    *,
    port: int,
    store_dir: Path,
    passwords: dict[str, str],
    observer_password: str | None = None,
    provisioner_password: str | None = None,
    sync_always: bool = True,
) -> str:
    """nats-server configuration text. JSON values are valid NATS config syntax.

    ``provisioner_password``: include the provisioning identity (only while starting);
    ``observer_password``: include the observer (only when explicitly asked for);
    ``sync_always``: JetStream fsyncs every message before acknowledging it (ADR 0018); False
    only for the benchmark that measures what that costs (NATS's default: every 2 minutes)."""
    users = [
        _user(user, passwords[user], perms["publish"], perms["subscribe"], responds=True)
        for user, perms in PERMISSIONS.items()
    ]
    if provisioner_password:
        # Creates the streams and the bucket, then is removed (config reload).
        users.append(
            _user(
                PROVISIONER,
                provisioner_password,
                [f"{JS}.>", f"$O.{BUILDS_BUCKET}.>"],
                [f"{inbox_prefix(PROVISIONER)}.>"],
                responds=False,
            )
        )
    if observer_password:
        users.append(_user(OBSERVER, observer_password, [f"{JS}.>", "$JS.ACK.>"], [">"], responds=False))
    config = {
        "server_name": "berth",
        "listen": f"127.0.0.1:{port}",
        "max_payload": 8 * 1024 * 1024,
        "jetstream": {
            "store_dir": str(store_dir),
            "max_memory_store": 64 * 1024 * 1024,
            **({"sync_interval": "always"} if sync_always else {}),
        },
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
