"""`berth up` checks every port it will listen on before starting anything, and names the
setting and the process holding a taken one."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from berth_cli.launcher import ports
from berth_shared.settings import Settings

TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1151 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 544325 1 0 100 0 0 10 0
   1: 0100007F:1151 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 999999 1 0 100 0 0 10 0
   2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0
"""
ZERO6 = "0" * 32
TCP6 = (
    "  sl  local_address                         remote_address                        st tx_queue rx_queue\n"
    f"   0: {ZERO6}:1151 {ZERO6}:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 2 0\n"
)


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"BERTH_HOME": str(tmp_path), **env})


def test_listeners_are_read_from_proc_net_tcp_and_tcp6() -> None:
    assert ports.listening_inodes(TCP, 0x1151) == {544325}  # the established connection is not a listener
    assert ports.listening_inodes(TCP, 80) == {111}
    assert ports.listening_inodes(TCP6, 4433) == {777}
    assert ports.listening_inodes(TCP, 5432) == set()
    assert ports.socket_inode("socket:[544325]") == 544325
    assert ports.socket_inode("/dev/null") is None
    assert ports.command_of(b"postgres\0-D\0/srv/pg\0") == "postgres -D /srv/pg"


def test_every_port_is_a_setting_and_external_servers_take_none(tmp_path: Path) -> None:
    planned = {p.setting: p for p in ports.planned_ports(settings(tmp_path))}
    assert {k: v.port for k, v in planned.items()} == {
        "BERTH_HTTP_PORT": 80,
        "BERTH_HTTPS_PORT": 443,
        "BERTH_API_PORT": 8000,
        "BERTH_TLS_ASK_PORT": 2020,
        "BERTH_PROXY_LOG_PORT": 2021,
        "BERTH_SLOT_DNS_PORT": 2022,
        "BERTH_NATS_PORT": 4222,
        "BERTH_PG_PORT": 5433,
    }
    assert planned["BERTH_HTTP_PORT"].host == ports.ANY and planned["BERTH_PG_PORT"].host == "127.0.0.1"
    assert [p.setting for p in planned.values() if p.udp] == ["BERTH_SLOT_DNS_PORT"]
    external = settings(tmp_path, BERTH_NATS_URL="nats://h:4222", BERTH_DATABASE_URL="postgresql://h/db")
    assert {p.setting for p in ports.planned_ports(external)}.isdisjoint({"BERTH_NATS_PORT", "BERTH_PG_PORT"})
    clash = settings(tmp_path, BERTH_API_PORT="4222")
    assert ports.duplicates(ports.planned_ports(clash)) == ["4222 is both BERTH_API_PORT and BERTH_NATS_PORT"]
    # One number for a TCP and a UDP port takes nothing twice.
    assert ports.duplicates(ports.planned_ports(settings(tmp_path, BERTH_SLOT_DNS_PORT="2021"))) == []


def test_a_taken_port_is_named_with_its_setting_and_holder(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        assert not ports.is_free("127.0.0.1", port)
        assert not ports.is_free(ports.ANY, port)  # a public port clashes with a loopback listener
        holder = ports.holder_of(port)
        assert holder is not None and holder.pid == os.getpid() and "python" in holder.command
        s = only_pg_on(tmp_path, port)
        with pytest.raises(ports.PortsInUse) as refused:
            ports.check_free(s)
        message = str(refused.value)
        assert f"port {port} (BERTH_PG_PORT: embedded Postgres, 127.0.0.1) is in use" in message
        assert f"held by pid {os.getpid()} (" in message and "set BERTH_PG_PORT to a free port" in message
        # A server an earlier run of this home left behind (replaced by the start) does not count.
        ports.check_free(s, ours=[os.getpid()])
    assert ports.is_free("127.0.0.1", port)


def test_a_taken_udp_port_is_named_with_its_setting_and_holder(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        assert not ports.is_free("127.0.0.1", port, udp=True)
        holder = ports.holder_of(port, udp=True)
        assert holder is not None and holder.pid == os.getpid()
        s = only_pg_on(tmp_path, free(), BERTH_SLOT_DNS_PORT=str(port))
        with pytest.raises(ports.PortsInUse) as refused:
            ports.check_free(s)
        expected = f"port {port}/udp (BERTH_SLOT_DNS_PORT: the router's slot DNS, 127.0.0.1) is in use"
        assert expected in str(refused.value)
    assert ports.is_free("127.0.0.1", port, udp=True)


def only_pg_on(tmp_path: Path, port: int, **env: str) -> Settings:
    """Settings whose other ports are all free."""
    others = ("HTTP", "HTTPS", "API", "TLS_ASK", "PROXY_LOG", "SLOT_DNS", "NATS")
    return settings(tmp_path, BERTH_PG_PORT=str(port), **{**{f"BERTH_{k}_PORT": str(free()) for k in others}, **env})


def free() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_process_of_the_same_home_is_recognised_by_its_command_line_or_environment(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    for pid, cmdline, environ in (
        (1, b"postgres\0-D\0/srv/berth/postgres/data\0", b"PATH=/bin\0"),
        (2, b"python\0-m\0berth_api\0", b"PATH=/bin\0BERTH_HOME=/srv/berth\0"),
        (3, b"python\0-m\0berth_api\0", b"BERTH_HOME=/srv/berth-two\0"),
        (4, b"postgres\0-D\0/srv/berth-two/data\0", b""),
    ):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "cmdline").write_bytes(cmdline)
        (proc / str(pid) / "environ").write_bytes(environ)
    home = Path("/srv/berth")
    assert [pid for pid in (1, 2, 3, 4, 5) if ports.of_home(pid, home, proc)] == [1, 2]
