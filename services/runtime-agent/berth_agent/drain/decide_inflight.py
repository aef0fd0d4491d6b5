"""Requests still in flight on a slot being drained, read from ``/proc/net/tcp`` (pure; mypy strict).

The proxy opens a new connection to a slot for every request and closes it with the response
(no idle connections, ADR 0004), and it runs in the agent's network namespace: a connection to
the slot's ``address:port`` that is open (or being opened) is a request in flight. Once the
proxy routes every new request elsewhere (ADR 0025), the drain ends when none is left.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Iterable

# /proc/net/tcp states of a connection that still carries (or is about to carry) a request:
# ESTABLISHED and SYN_SENT. The others are closing or closed (TIME_WAIT lingers for a minute).
OPEN_STATES = frozenset({"01", "02"})


def _endpoint(text: str) -> tuple[str, int] | None:
    """``0200F00A:1F90`` -> ("10.240.0.2", 8080): the kernel prints the address as a native
    32-bit number of network-order bytes, the port as a plain number."""
    hex_address, _, hex_port = text.partition(":")
    if len(hex_address) != 8 or not hex_port:
        return None
    try:
        packed = int(hex_address, 16).to_bytes(4, sys.byteorder)
        return str(ipaddress.IPv4Address(packed)), int(hex_port, 16)
    except ValueError:
        return None


def open_connections(table: str, address: str, port: int) -> int:
    """How many connections in ``table`` (the text of ``/proc/net/tcp``) go to ``address:port``
    and are open. Lines that cannot be read are skipped."""
    return sum(
        1 for remote, state in _remotes(table.splitlines()[1:]) if remote == (address, port) and state in OPEN_STATES
    )


def _remotes(lines: Iterable[str]) -> Iterable[tuple[tuple[str, int], str]]:
    for line in lines:
        fields = line.split()
        if len(fields) < 4:
            continue
        remote = _endpoint(fields[2])
        if remote is not None:
            yield remote, fields[3]
