"""Reading a container's json-file log from disk, across the engine's rotations (the I/O).

The collector reads ``LogPath`` (from the container's inspect; the agent runs as root on the
host) instead of asking the engine to follow it over its API, which costs the engine ~6 µs of
CPU per line (ADR 0027). :class:`JsonFileLog` keeps one open file descriptor: a rotation renames
the file, so the descriptor reads it to its end even after it was renamed or deleted. At the end
of a file it looks whether ``LogPath`` now names another inode; if so it reads the old file to
its end once more and goes on with the next one, chosen by inode among ``LogPath`` and its
rotated names (:func:`~berth_agent.logs.decide_json_file.next_file`, which also says when files
between were deleted unread). Regular files never block: reads are plain ``os.read`` calls.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from berth_agent.logs.decide_json_file import (
    MAX_ROTATED,
    Loss,
    Spot,
    next_file,
    rotated_name,
    start_at,
    successor_of,
)

READ_BYTES = 256 * 1024


@dataclass(frozen=True)
class Opened:
    at_spot: bool  # where an earlier read ended (nothing before it is to be read again)


@dataclass(frozen=True)
class Switched:
    """A move to the next file; ``loss`` says whether files between were deleted unread."""

    loss: Loss


class JsonFileLog:
    """One container's log files; reads whole bytes from the current one (parsing is the caller's)."""

    def __init__(self, log_path: str) -> None:
        self.path = log_path
        self._fd = -1
        self.inode = 0
        self.offset = 0  # bytes read from the current file
        self._successor: int | None = None  # the file after the current one, once seen
        self._rotated = False  # LogPath named another file at the last look: read on, then switch

    def ring(self) -> list[int]:
        """The inodes the log's names hold now, oldest first (``LogPath.<n>`` ... ``LogPath``).
        Names are looked up to the highest one there (a rename in progress may leave a hole)."""
        found: list[int] = []
        missing = 0
        for index in range(MAX_ROTATED + 1):
            try:
                found.append(os.stat(rotated_name(self.path, index)).st_ino)
                missing = 0
            except FileNotFoundError:
                if index > 0:
                    missing += 1
                    if missing > 1:
                        break
        found.reverse()
        return found

    def open_at(self, spot: Spot | None) -> Opened | None:
        """Begin at ``spot`` when its file is still there, else at the oldest file; None when
        there is no file to read (the caller falls back to the engine's API)."""
        for _ in range(3):  # a rotation between listing and opening: look again
            begin = start_at(self.ring(), spot)
            if begin is None:
                return None
            inode, offset = begin
            if self._open(inode, offset):
                return Opened(at_spot=spot is not None and spot.inode == inode)
        return None

    def _open(self, inode: int, offset: int) -> bool:
        for index in range(MAX_ROTATED + 1):
            name = rotated_name(self.path, index)
            try:
                fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                if index > 1:
                    return False
                continue
            if os.fstat(fd).st_ino != inode:
                os.close(fd)
                continue
            self.close()
            self._fd, self.inode, self._rotated = fd, inode, False
            self.offset = os.lseek(fd, offset, os.SEEK_SET) if offset else 0
            self._successor = None
            return True
        return False

    def read(self) -> bytes:
        """The next bytes of the current file (b"" at its end for now)."""
        data = os.read(self._fd, READ_BYTES)
        self.offset += len(data)
        return data

    def truncated(self) -> bool:
        """The current file is shorter than what was read of it (the engine truncated it)."""
        return os.fstat(self._fd).st_size < self.offset

    def rewind(self) -> None:
        """Read the current file again from its start (the engine truncated it: max-file 1)."""
        self.offset = os.lseek(self._fd, 0, os.SEEK_SET)

    def look(self) -> bool:
        """Whether ``LogPath`` names another file than the current one (it was rotated); notes
        which file follows the current one while it can still be seen."""
        try:
            rotated = os.stat(self.path).st_ino != self.inode
        except FileNotFoundError:
            rotated = True  # between the rename and the new file
        if rotated:
            self._rotated = True
            if self._successor is None:
                self._successor = successor_of(self.inode, self.ring())
        return self._rotated

    @property
    def rotated(self) -> bool:
        return self._rotated

    def switch(self) -> Switched | None:
        """The current file is read to its end after a rotation was seen: open the next one.
        None while there is none to open yet."""
        ring = self.ring()
        decided = next_file(self.inode, self._successor, ring)
        if decided.inode is None:
            return None
        if not self._open(decided.inode, 0):
            return None
        return Switched(decided.loss)

    def spot(self, unread: int) -> Spot:
        """Where the bytes read so far, less ``unread`` of them not yet parsed, end."""
        return Spot(self.inode, self.offset - unread)

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
