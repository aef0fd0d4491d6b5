"""Reads an uploaded build context once, before it is stored: its unpacked size and its Dockerfile.

The upload limit counts compressed bytes; a small gzip can unpack to far more (a "gzip bomb")
and the engine would unpack all of it. This walks the tar stream (gzip, bzip2, xz or plain,
as the engine accepts) block by block in bounded memory: every header and data block counts
toward ``limit``, and the walk stops with :class:`ContextTooLarge` as soon as a header announces
more than is left, before that data is decompressed. Long names and pax records are read only up
to ``META_MAX`` bytes. The Dockerfile's text is kept (up to ``DOCKERFILE_MAX``) for the ``ADD
<url>`` check.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import posixpath
from dataclasses import dataclass
from typing import IO, cast

from berth_shared.errors import PayloadTooLarge, ValidationFailed

BLOCK = 512
CHUNK = 64 * 1024
META_MAX = 1024 * 1024  # a GNU long name or a pax header larger than this is not a real one
DOCKERFILE_MAX = 1024 * 1024
MIB = 1024 * 1024


class ContextTooLarge(PayloadTooLarge):
    pass


@dataclass(frozen=True)
class ContextSummary:
    unpacked_bytes: int
    dockerfile: str | None  # its text; None when the context has no such regular file


def open_decompressed(raw: IO[bytes]) -> IO[bytes]:
    """The archive's tar stream, by its magic bytes."""
    head = raw.read(6)
    raw.seek(0)
    if head.startswith(b"\x1f\x8b"):
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw))
    if head.startswith(b"BZh"):
        return cast(IO[bytes], bz2.BZ2File(raw))
    if head.startswith(b"\xfd7zXZ\x00"):
        return cast(IO[bytes], lzma.LZMAFile(raw))
    return raw


def normalized(name: str) -> str:
    return posixpath.normpath(name.lstrip("/")).removeprefix("./")


def _octal(field: bytes) -> int:
    if field[:1] and field[0] & 0x80:  # GNU base-256 for sizes past 8 GiB
        value = int.from_bytes(field[1:], "big")
        return value
    text = field.split(b"\x00", 1)[0].strip()
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise ValidationFailed.on("body", "not a tar archive (a header has an invalid size)") from None


def _name(header: bytes) -> str:
    name = header[0:100].split(b"\x00", 1)[0]
    prefix = header[345:500].split(b"\x00", 1)[0] if header[257:262] == b"ustar" else b""
    joined = prefix + b"/" + name if prefix else name
    return joined.decode("utf-8", errors="replace")


def _pax_path(data: bytes) -> str | None:
    """The ``path`` record of a pax extended header (``<len> path=<value>\\n`` records)."""
    for record in data.split(b"\n"):
        _, _, field = record.partition(b" ")
        key, eq, value = field.partition(b"=")
        if eq and key == b"path":
            return value.decode("utf-8", errors="replace")
    return None


class _Walker:
    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self.read_bytes = 0

    def _too_large(self) -> ContextTooLarge:
        return ContextTooLarge(
            f"build context unpacks to more than {self._limit // MIB} MiB (the limit on its unpacked size); "
            "exclude files with .dockerignore (dependencies, build output, .git)"
        )

    def reserve(self, size: int) -> None:
        """Refuse before reading when ``size`` more bytes would pass the limit."""
        if self.read_bytes + size > self._limit:
            raise self._too_large()

    def read(self, size: int) -> bytes:
        self.reserve(size)
        data = self._stream.read(size)
        self.read_bytes += len(data)
        return data

    def skip(self, size: int) -> None:
        self.reserve(size)
        left = size
        while left > 0:
            chunk = self._stream.read(min(CHUNK, left))
            if not chunk:
                return
            self.read_bytes += len(chunk)
            left -= len(chunk)


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def scan(raw: IO[bytes], dockerfile: str, limit: int) -> ContextSummary:
    """Walk the archive in ``raw`` (at its start); its unpacked size and Dockerfile text."""
    try:
        return _scan(open_decompressed(raw), normalized(dockerfile), limit)
    except (OSError, EOFError, lzma.LZMAError) as exc:
        raise ValidationFailed.on("body", f"not a readable archive ({exc})") from None


def _scan(stream: IO[bytes], wanted: str, limit: int) -> ContextSummary:
    walker = _Walker(stream, limit)
    text: str | None = None
    long_name: str | None = None
    while True:
        header = walker.read(BLOCK)
        if len(header) < BLOCK or header == bytes(BLOCK):
            break  # end of the archive (the engine stops here too)
        size = _octal(header[124:136])
        kind = header[156:157]
        if kind in (b"L", b"K", b"x", b"g"):  # GNU long name/link, pax headers: about the next member
            if size > META_MAX:
                raise ValidationFailed.on("body", "not a tar archive (a header record is too large)")
            data = walker.read(_padded(size))[:size]
            if kind == b"L":
                long_name = data.rstrip(b"\x00").decode("utf-8", errors="replace")
            elif kind == b"x":
                long_name = _pax_path(data) or long_name
            continue
        name = normalized(long_name or _name(header))
        long_name = None
        if kind in (b"1", b"2") and name == wanted:
            raise ValidationFailed.on("body", f"{wanted} must be a regular file in the build context, not a link")
        if kind in (b"0", b"\x00", b"7") and name == wanted and size <= DOCKERFILE_MAX:
            data = walker.read(_padded(size))[:size]
            text = data.decode("utf-8", errors="replace")
            continue
        walker.skip(_padded(size) if kind not in (b"1", b"2", b"3", b"4", b"5", b"6") else 0)
    return ContextSummary(walker.read_bytes, text)
