"""The platform backup file: a tar stream sealed in chunks under a key derived from the master
key (AES-256-GCM), which the file never contains. Streams in, streams out (no whole-file
buffering: a database dump can be large).

Layout::

    header = b"BERTHBK1" | len(key_id) (1 byte) | key_id (ASCII) | salt (16) | nonce prefix (7)
             | chunk size (4, big endian)
    chunk i = AES-256-GCM(file key, nonce = prefix | i (4, big endian) | last (1), plaintext,
                          additional data = header)

* the file key is HKDF-SHA256(master key, salt, ``berth-platform-backup-v1``): a fresh salt per
  backup, so no two backups share a key, and a backup key is never an env-value key;
* every chunk is authenticated with the whole header (key id, salt, sizes) and its position,
  and the last one says it is last: a reordered, cut or extended file does not open;
* the key id is in the clear so a restore can say which key it needs.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"BERTHBK1"
SALT_BYTES = 16
PREFIX_BYTES = 7
TAG_BYTES = 16
CHUNK_BYTES = 1024 * 1024
KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_INFO = b"berth-platform-backup-v1"


class ArchiveError(Exception):
    """The file is not a Berth backup, or does not open (wrong key, damaged, cut short)."""


@dataclass(frozen=True)
class Header:
    key_id: str
    salt: bytes
    prefix: bytes
    chunk_bytes: int = CHUNK_BYTES

    def encode(self) -> bytes:
        raw_id = self.key_id.encode("ascii")
        return MAGIC + bytes([len(raw_id)]) + raw_id + self.salt + self.prefix + self.chunk_bytes.to_bytes(4, "big")


def new_header(key_id: str, chunk_bytes: int = CHUNK_BYTES) -> Header:
    if not KEY_ID.match(key_id):
        raise ArchiveError(f"key id {key_id!r} is not valid")
    return Header(key_id, os.urandom(SALT_BYTES), os.urandom(PREFIX_BYTES), chunk_bytes)


def read_header(src: BinaryIO) -> Header:
    magic = src.read(len(MAGIC))
    if magic != MAGIC:
        raise ArchiveError("not a Berth platform backup (the file does not start with BERTHBK1)")
    n = src.read(1)
    raw_id = src.read(n[0]) if n else b""
    rest = src.read(SALT_BYTES + PREFIX_BYTES + 4)
    if not n or len(raw_id) != n[0] or len(rest) != SALT_BYTES + PREFIX_BYTES + 4:
        raise ArchiveError("the backup's header is cut short")
    try:
        key_id = raw_id.decode("ascii")
    except UnicodeDecodeError:
        raise ArchiveError("the backup's header names no valid key id") from None
    if not KEY_ID.match(key_id):
        raise ArchiveError("the backup's header names no valid key id")
    chunk_bytes = int.from_bytes(rest[-4:], "big")
    if not 0 < chunk_bytes <= 64 * 1024 * 1024:
        raise ArchiveError("the backup's header has an invalid chunk size")
    return Header(key_id, rest[:SALT_BYTES], rest[SALT_BYTES : SALT_BYTES + PREFIX_BYTES], chunk_bytes)


def file_key(master_key: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO).derive(master_key)


def _nonce(header: Header, index: int, last: bool) -> bytes:
    if index >= 2**32:
        raise ArchiveError("backup too large for one file")
    return header.prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


class SealingWriter(io.RawIOBase):
    """A write-only file: what is written comes out sealed, chunk by chunk, into ``dst``.
    ``close()`` seals the last chunk (possibly empty); forgetting it leaves a file that never opens."""

    def __init__(self, dst: BinaryIO, master_key: bytes, header: Header) -> None:
        self._dst = dst
        self._header = header
        self._aad = header.encode()
        self._aead = AESGCM(file_key(master_key, header.salt))
        self._buf = bytearray()
        self._index = 0
        dst.write(self._aad)

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._buf += data
        size = self._header.chunk_bytes
        # Keep at least one byte back: only close() knows which chunk is the last.
        while len(self._buf) > size:
            self._seal(bytes(self._buf[:size]), last=False)
            del self._buf[:size]
        return len(data)

    def _seal(self, plain: bytes, last: bool) -> None:
        self._dst.write(self._aead.encrypt(_nonce(self._header, self._index, last), plain, self._aad))
        self._index += 1

    def close(self) -> None:
        if not self.closed:
            self._seal(bytes(self._buf), last=True)
            self._buf.clear()
        super().close()


class OpeningReader(io.RawIOBase):
    """A read-only file over a sealed backup: every chunk is authenticated before any of its
    bytes are returned; a wrong key fails on the first read, a cut file on the last."""

    def __init__(self, src: BinaryIO, master_key: bytes, header: Header) -> None:
        self._src = src
        self._header = header
        self._aad = header.encode()
        self._aead = AESGCM(file_key(master_key, header.salt))
        self._index = 0
        self._plain = b""
        self._pos = 0
        self._done = False
        self._next = src.read(header.chunk_bytes + TAG_BYTES)

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        sealed = self._next
        if not sealed:
            raise ArchiveError("the backup is cut short (its last chunk is missing)")
        self._next = self._src.read(self._header.chunk_bytes + TAG_BYTES)
        last = not self._next
        try:
            self._plain = self._aead.decrypt(_nonce(self._header, self._index, last), sealed, self._aad)
        except InvalidTag:
            if self._index == 0:
                raise ArchiveError(
                    f"the backup does not open with master key {self._header.key_id!r} "
                    "(a different key under that id, or the file was altered)"
                ) from None
            raise ArchiveError(f"the backup is damaged or cut short (chunk {self._index} does not open)") from None
        self._pos = 0
        self._index += 1
        self._done = last

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while self._pos >= len(self._plain):
            if self._done:
                return 0
            self._fill()
        n = min(len(buffer), len(self._plain) - self._pos)
        buffer[:n] = self._plain[self._pos : self._pos + n]
        self._pos += n
        return n
