"""How Berth's own HTTP probes name themselves, and how a log line is recognised as one.

Every probe Berth sends to an app — the health service's checks, the runtime agent's deploy
gate, Caddy's active health checks — carries ``User-Agent: Berth-Health/<version>``. An app
that logs its requests (an access log) then writes that name into its own stdout/stderr, and
the log view hides such lines unless asked for them (``probes=true``). The rule is deliberately
that simple: a line of the app's own output (``stdout``/``stderr``, never the router's
``proxy`` stream) containing ``Berth-Health/``.
"""

from __future__ import annotations

import importlib.metadata

PROBE_AGENT_NAME = "Berth-Health"
# What identifies a probe in a log line: the product token with its slash.
PROBE_MARK = f"{PROBE_AGENT_NAME}/"
# Streams written by the app itself (an access log line there may be one of Berth's probes).
APP_STREAMS = ("stdout", "stderr")


def _version() -> str:
    try:
        return importlib.metadata.version("berth-shared")
    except importlib.metadata.PackageNotFoundError:
        return "0"


PROBE_USER_AGENT = f"{PROBE_MARK}{_version()}"


def is_probe_line(stream: str, message: str) -> bool:
    """Is this log line an app's record of one of Berth's own probes?"""
    return stream in APP_STREAMS and PROBE_MARK in message
