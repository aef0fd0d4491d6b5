"""The ports `berth up` listens on (TCP, and the router's slot DNS on UDP): each is a setting,
each is checked free before anything starts, and a port in use is reported with the setting
that moves it and who holds it.

Deciding is pure (:func:`planned_ports`, :func:`listening_inodes`, :func:`busy_message`); the
I/O is a bind attempt per port and, for a busy one, a read of ``/proc/net/{tcp,udp}{,6}`` and
``/proc/<pid>/fd`` to find the process holding it (any process root can see).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from berth_shared.settings import Settings

LOOPBACK = "127.0.0.1"
ANY = ""  # every interface (the proxy's public ports)
TCP_LISTEN = "0A"  # the LISTEN state in /proc/net/tcp
UDP_BOUND = "07"  # an unconnected (receiving) socket in /proc/net/udp


@dataclass(frozen=True)
class PlannedPort:
    """One port `berth up` will listen on."""

    setting: str
    port: int
    what: str
    host: str = LOOPBACK
    udp: bool = False

    def label(self) -> str:
        where = "all interfaces" if self.host == ANY else self.host
        return f"{self.port}{'/udp' if self.udp else ''} ({self.setting}: {self.what}, {where})"


@dataclass(frozen=True)
class Holder:
    pid: int
    command: str


class PortsInUse(RuntimeError):
    """Some port `berth up` needs is taken (or named twice); the message says which and by whom."""


def planned_ports(s: Settings) -> list[PlannedPort]:
    """Every port this configuration listens on (embedded servers only when they are used)."""
    ports = [
        PlannedPort("BERTH_HTTP_PORT", s.http_port, "the proxy, HTTP", ANY),
        PlannedPort("BERTH_HTTPS_PORT", s.https_port, "the proxy, HTTPS", ANY),
        PlannedPort("BERTH_API_PORT", s.api_port, "the API and dashboard"),
        PlannedPort("BERTH_TLS_ASK_PORT", s.tls_ask_port, "the router's TLS ask endpoint"),
        PlannedPort("BERTH_PROXY_LOG_PORT", s.proxy_log_port, "the router's proxy log sink"),
        PlannedPort("BERTH_SLOT_DNS_PORT", s.slot_dns_port, "the router's slot DNS", udp=True),
    ]
    if not s.nats_url:
        ports.append(PlannedPort("BERTH_NATS_PORT", s.nats_port, "embedded NATS"))
    if not s.database_url:
        ports.append(PlannedPort("BERTH_PG_PORT", s.pg_port, "embedded Postgres"))
    return ports


def duplicates(ports: Iterable[PlannedPort]) -> list[str]:
    """Settings that name the same port of one protocol (Berth would take it from itself)."""
    by_port: dict[tuple[int, bool], list[str]] = {}
    for p in ports:
        by_port.setdefault((p.port, p.udp), []).append(p.setting)
    return [f"{port} is both {' and '.join(names)}" for (port, _), names in by_port.items() if len(names) > 1]


def listening_inodes(table: str, port: int, state: str = TCP_LISTEN) -> set[int]:
    """Socket inodes listening on ``port`` in the text of ``/proc/net/tcp`` or ``tcp6`` (with
    ``state=UDP_BOUND``: bound to it in ``/proc/net/udp`` or ``udp6``)."""
    inodes: set[int] = set()
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != state:
            continue
        _, _, hex_port = fields[1].rpartition(":")
        with contextlib.suppress(ValueError):
            if int(hex_port, 16) == port:
                inodes.add(int(fields[9]))
    return inodes


def socket_inode(link: str) -> int | None:
    """The inode of an fd link such as ``socket:[12345]``; None for anything else."""
    if link.startswith("socket:[") and link.endswith("]"):
        with contextlib.suppress(ValueError):
            return int(link[8:-1])
    return None


def command_of(cmdline: bytes, limit: int = 120) -> str:
    text = " ".join(part.decode(errors="replace") for part in cmdline.split(b"\0") if part)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def busy_message(busy: list[tuple[PlannedPort, Holder | None]], clashes: list[str]) -> str:
    lines = [f"  {clash}: give each setting its own port" for clash in clashes]
    for planned, holder in busy:
        who = f"held by pid {holder.pid} ({holder.command})" if holder else "held by a process this user cannot see"
        lines.append(f"  port {planned.label()} is in use, {who}: set {planned.setting} to a free port or stop it")
    return "ports in use, nothing was started:\n" + "\n".join(lines)


# -- I/O ------------------------------------------------------------------------------------


def is_free(host: str, port: int, udp: bool = False) -> bool:
    """Whether a listener could bind ``host:port`` now (as the servers do: address reuse on, so
    connections of a stopped run in TIME_WAIT do not count)."""
    families = [(socket.AF_INET6, "::"), (socket.AF_INET, "0.0.0.0")] if host == ANY else [(socket.AF_INET, host)]
    for family, address in families:
        try:
            sock = socket.socket(family, socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        except OSError:
            continue  # no IPv6 here: the IPv4 attempt decides
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            try:
                sock.bind((address, port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return False
                if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                    continue
                raise
            return True
    return True


def _proc_pids(proc: Path) -> list[int]:
    try:
        return [int(name) for name in os.listdir(proc) if name.isdigit()]
    except OSError:
        return []


def holder_of(port: int, proc: Path = Path("/proc"), udp: bool = False) -> Holder | None:
    """The process listening on ``port`` (first found), from ``/proc``."""
    inodes: set[int] = set()
    kind, state = ("udp", UDP_BOUND) if udp else ("tcp", TCP_LISTEN)
    for table in (kind, f"{kind}6"):
        with contextlib.suppress(OSError):
            inodes |= listening_inodes((proc / "net" / table).read_text(), port, state)
    if not inodes:
        return None
    for pid in _proc_pids(proc):
        fd_dir = proc / str(pid) / "fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                inode = socket_inode(os.readlink(fd_dir / fd))
            except OSError:
                continue
            if inode in inodes:
                try:
                    command = command_of((proc / str(pid) / "cmdline").read_bytes())
                except OSError:
                    command = "?"
                return Holder(pid, command or "?")
    return None


def of_home(pid: int, home: Path, proc: Path = Path("/proc")) -> bool:
    """Whether process ``pid`` is a process of the Berth instance at ``home`` (its command line
    names a path in it, or its environment sets ``BERTH_HOME`` to it)."""
    marker = str(home).encode()
    try:
        if marker + b"/" in (proc / str(pid) / "cmdline").read_bytes():
            return True
        return b"BERTH_HOME=" + marker + b"\0" in (proc / str(pid) / "environ").read_bytes() + b"\0"
    except OSError:
        return False


def check_free(settings: Settings, ours: Iterable[int] = ()) -> None:
    """Raise :class:`PortsInUse` naming every planned port that is taken, its setting and its
    holder. A process of this same ``BERTH_HOME`` left behind by an earlier run (which this
    start stops or replaces, e.g. a stale Postgres), or one in ``ours``, does not count."""
    planned = planned_ports(settings)
    clashes = duplicates(planned)
    busy: list[tuple[PlannedPort, Holder | None]] = []
    mine = set(ours)
    for p in planned:
        if is_free(p.host, p.port, p.udp):
            continue
        holder = holder_of(p.port, udp=p.udp)
        if holder is not None and (holder.pid in mine or of_home(holder.pid, settings.home)):
            continue
        busy.append((p, holder))
    if busy or clashes:
        raise PortsInUse(busy_message(busy, clashes))


def describe(settings: Settings) -> list[str]:
    """One line per port, for the start banner."""
    return [p.label() for p in planned_ports(settings)]
