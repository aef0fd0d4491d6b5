"""Requests in flight on a slot, read from /proc/net/tcp's text."""

from __future__ import annotations

import sys

import pytest
from berth_agent.drain.decide_inflight import open_connections

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"


def endpoint(address: str, port: int) -> str:
    """How the kernel prints ``address:port`` on this machine."""
    packed = bytes(int(part) for part in address.split("."))
    return f"{int.from_bytes(packed, sys.byteorder):08X}:{port:04X}"


def line(index: int, remote: str, state: str) -> str:
    local = endpoint("10.240.0.1", 40000 + index)
    return f"  {index}: {local} {remote} {state} 00000000:00000000 00:00000000 00000000 0 0 {1000 + index} 1\n"


SLOT = ("10.240.0.2", 8080)


def test_open_connections_to_the_slot_are_counted_and_nothing_else() -> None:
    table = HEADER + "".join(
        [
            line(1, endpoint(*SLOT), "01"),  # ESTABLISHED: a request in flight
            line(2, endpoint(*SLOT), "02"),  # SYN_SENT: a request being sent
            line(3, endpoint(*SLOT), "06"),  # TIME_WAIT: answered and closed
            line(4, endpoint(*SLOT), "08"),  # CLOSE_WAIT: the slot closed, the response is in
            line(5, endpoint("10.240.0.3", 8080), "01"),  # the other slot
            line(6, endpoint("10.240.0.2", 9090), "01"),  # another port
        ]
    )
    assert open_connections(table, *SLOT) == 2


def test_no_connection_means_nothing_in_flight() -> None:
    assert open_connections(HEADER, *SLOT) == 0
    assert open_connections("", *SLOT) == 0


@pytest.mark.parametrize("junk", ["garbage", "  1: 0100007F:1F90 XYZ 01", "  1: a:b 0200F00A: 01", "  1: a:b :1F90 01"])
def test_lines_that_cannot_be_read_are_skipped(junk: str) -> None:
    table = HEADER + junk + "\n" + line(1, endpoint(*SLOT), "01")
    assert open_connections(table, *SLOT) == 1


def test_the_kernels_own_table_is_read() -> None:
    with open("/proc/net/tcp") as f:
        assert open_connections(f.read(), "192.0.2.1", 9) == 0
