"""A network namespace of its own for the dashboard tests' Chromium, as if it ran on the
developer's laptop rather than on the server.

Chromium watches the addresses of its network namespace and fails every request in flight with
``net::ERR_NETWORK_CHANGED`` when one changes. On this machine the browser shares its host with
the engine, and every app network the platform creates or removes (a deploy, a delete, another
test's cleanup) adds or removes a bridge address: CI saw eight such errors in one sign-in test.
A user's browser is never on the engine's host, so the tests give Chromium a namespace with only
a loopback, where the platform's ports on 127.0.0.1 are relayed to the host's 127.0.0.1.

A listening socket keeps the namespace it was created in, so one thread enters the namespace to
open the listeners, comes back, and relays each accepted connection to the host's port."""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from berth_testing import pump

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def _listen_inside(netns: str, ports: list[int]) -> list[socket.socket]:
    """Listeners on 127.0.0.1:<port> inside ``netns``; only this thread changes namespace."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    listeners: list[socket.socket] = []
    try:
        _setns(target)
        try:
            for port in ports:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", port))
                s.listen(128)
                listeners.append(s)
        finally:
            _setns(home)
    finally:
        os.close(home)
        os.close(target)
    return listeners


def _relay(conn: socket.socket, port: int) -> None:
    try:
        upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
        upstream.settimeout(None)
    except OSError:
        conn.close()
        return
    back = threading.Thread(target=pump, args=(upstream, conn), daemon=True)
    back.start()
    pump(conn, upstream)
    back.join()
    conn.close()
    upstream.close()


def _serve(listener: socket.socket, port: int) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return  # closed: the fixture is done
        threading.Thread(target=_relay, args=(conn, port), daemon=True).start()


@contextmanager
def browser_namespace(name: str, ports: list[int], executable: str, workdir: Path) -> Iterator[str]:
    """Create network namespace ``name`` with loopback up and ``ports`` relayed to the host's
    127.0.0.1; yield the path of a launcher that runs ``executable`` inside it."""
    subprocess.run(["ip", "netns", "delete", name], capture_output=True)  # a killed run's leftover
    subprocess.run(["ip", "netns", "add", name], check=True)
    listeners: list[socket.socket] = []
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        listeners = _listen_inside(name, ports)
        for listener, port in zip(listeners, ports, strict=True):
            threading.Thread(target=_serve, args=(listener, port), daemon=True).start()
        launcher = workdir / "chromium-in-netns"
        launcher.write_text(f'#!/bin/sh\nexec ip netns exec {name} {executable} "$@"\n')
        launcher.chmod(0o755)
        yield str(launcher)
    finally:
        for listener in listeners:
            with suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() that close() would not
            listener.close()
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)
