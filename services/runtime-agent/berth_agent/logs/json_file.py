"""Reading a container's json-file log from disk, across the engine's rotations (the I/O).

The collector reads ``LogPath`` (from the container's inspect; the agent runs as root on the
host) instead of asking the engine to follow it over its API, which costs the engine ~6 µs of
CPU per line (ADR 0027). :class:`JsonFileLog` keeps one open file descriptor: a rotation renames
the file, so the descriptor reads it to its end even after it was renamed or deleted. At the end
of a file it looks whether ``LogPath`` now names another inode; if so it reads the old file to
its end once more and goes on with the next one, chosen by inode among ``LogPath`` and its
rotated names (:func:`~berth_agent.logs.decide_json_file.next_file`, which also says when files
between may have been deleted unread). The files after it are opened as soon as they are seen
and held (two at most), so the engine deleting them (or reusing their inode numbers) loses
nothing while the reader is held up; the collector also looks while it waits for an ack. Regular files never
block: reads are plain ``os.read`` calls.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from berth_agent.logs.decide_json_file import (
    MAX_HELD,
    MAX_ROTATED,
    Loss,
    Spot,
    files_after,
    next_file,
    rotated_name,
    start_at,
)

READ_BYTES = 256 * 1024


@dataclass(frozen=True)
class Opened:
    at_spot: bool  # where an earlier read ended (nothing before it is to be read again)


@dataclass(frozen=True)
class Held:
    """A file after the one being read, open since it was seen."""

    inode: int
    fd: int
    gap_before: bool  # files between it and the one before may have been deleted unread


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
        self._held: list[Held] = []  # the files after the current one, oldest first, open once seen
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
            fd = self._open(inode)
            if fd >= 0:
                self._use(fd, inode, offset)
                return Opened(at_spot=spot is not None and spot.inode == inode)
        return None

    def _open(self, inode: int) -> int:
        """A descriptor of the log file with ``inode`` (found among the names), or -1."""
        for index in range(MAX_ROTATED + 1):
            name = rotated_name(self.path, index)
            try:
                fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                if index > 1:
                    return -1
                continue
            if os.fstat(fd).st_ino == inode:
                return fd
            os.close(fd)
        return -1

    def _use(self, fd: int, inode: int, offset: int, *, keep_held: bool = False) -> None:
        held, self._held = self._held, []
        self.close()
        if keep_held:
            self._held = held
        else:
            for file in held:
                with contextlib.suppress(OSError):
                    os.close(file.fd)
        self._fd, self.inode, self._rotated = fd, inode, False
        self.offset = os.lseek(fd, offset, os.SEEK_SET) if offset else 0

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
        """Whether ``LogPath`` names another file than the current one (it was rotated). Each
        file after the current one is opened as soon as it is seen and held (up to
        :data:`MAX_HELD`): it stays readable, and its inode number is not given to a new file,
        even once the engine deletes it."""
        newest = self._held[-1].inode if self._held else self.inode
        try:
            at_path = os.stat(self.path).st_ino
        except FileNotFoundError:
            at_path = 0  # between the rename and the new file
        if at_path != self.inode:
            self._rotated = True
        if at_path != newest and len(self._held) < MAX_HELD:
            after, gap = files_after(newest, self.ring())
            for inode in after[: MAX_HELD - len(self._held)]:
                fd = self._open(inode)
                if fd < 0:
                    break
                self._held.append(Held(inode, fd, gap))
                gap = False
        return self._rotated

    @property
    def rotated(self) -> bool:
        return self._rotated

    def switch(self) -> Switched | None:
        """The current file is read to its end after a rotation was seen: go on with the next
        one. None while there is none to open yet."""
        if self._held:
            held = self._held.pop(0)
            self._use(held.fd, held.inode, 0, keep_held=True)
            return Switched(Loss.MAYBE if held.gap_before else Loss.NONE)
        decided = next_file(self.inode, self.ring())
        if decided.inode is None:
            return None
        fd = self._open(decided.inode)
        if fd < 0:
            return None
        self._use(fd, decided.inode, 0)
        return Switched(decided.loss)

    def spot(self, unread: int) -> Spot:
        """Where the bytes read so far, less ``unread`` of them not yet parsed, end."""
        return Spot(self.inode, self.offset - unread)

    def close(self) -> None:
        """Closes the current file and the files held after it."""
        for fd in [self._fd, *(held.fd for held in self._held)]:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fd = -1
        self._held = []
