"""The platform backup file: sealed in chunks under the master key; only that key opens it,
and a damaged, cut or reordered file never opens."""

from __future__ import annotations

import io
import os

import pytest
from berth_cli.launcher import backup_archive as ba

KEY = os.urandom(32)


def seal(data: bytes, key: bytes = KEY, chunk: int = 64, key_id: str = "k-1") -> bytes:
    out = io.BytesIO()
    writer = ba.SealingWriter(out, key, ba.new_header(key_id, chunk_bytes=chunk))
    for i in range(0, len(data), 50):  # writes that do not line up with chunks
        writer.write(data[i : i + 50])
    writer.close()
    return out.getvalue()


def unseal(blob: bytes, key: bytes = KEY) -> bytes:
    src = io.BytesIO(blob)
    header = ba.read_header(src)
    return io.BufferedReader(ba.OpeningReader(src, key, header)).read()


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 640, 1000])
def test_what_is_sealed_opens_with_the_same_key(size: int) -> None:
    data = os.urandom(size)
    assert unseal(seal(data)) == data


def test_the_file_never_contains_the_key_or_the_plaintext() -> None:
    data = b"pg_superuser_password=very-secret " * 20
    blob = seal(data)
    assert KEY not in blob and b"very-secret" not in blob
    assert blob.startswith(ba.MAGIC)


def test_the_header_names_the_key_it_needs() -> None:
    assert ba.read_header(io.BytesIO(seal(b"x", key_id="env-1a2b3c4d"))).key_id == "env-1a2b3c4d"


def test_a_wrong_key_fails_at_the_first_chunk_naming_the_key() -> None:
    with pytest.raises(ba.ArchiveError, match="does not open with master key 'k-1'"):
        unseal(seal(os.urandom(500)), key=os.urandom(32))


def test_two_backups_of_the_same_data_differ_and_each_opens() -> None:
    data = os.urandom(300)
    a, b = seal(data), seal(data)
    assert a != b and unseal(a) == unseal(b) == data


@pytest.mark.parametrize("cut", [1, 16, 64 + 16, 81])
def test_a_file_cut_short_does_not_open(cut: int) -> None:
    blob = seal(os.urandom(300))
    with pytest.raises(ba.ArchiveError):
        unseal(blob[:-cut])


def test_a_file_cut_at_a_chunk_boundary_does_not_open() -> None:
    """Dropping whole trailing chunks leaves no half chunk; the missing last flag gives it away."""
    blob = seal(os.urandom(300), chunk=64)
    header_len = len(ba.read_header(io.BytesIO(blob)).encode())
    two_chunks = header_len + 2 * (64 + ba.TAG_BYTES)
    with pytest.raises(ba.ArchiveError, match="damaged or cut short"):
        unseal(blob[:two_chunks])


def test_swapped_chunks_do_not_open() -> None:
    blob = seal(os.urandom(300), chunk=64)
    h = len(ba.read_header(io.BytesIO(blob)).encode())
    c = 64 + ba.TAG_BYTES
    swapped = blob[:h] + blob[h + c : h + 2 * c] + blob[h : h + c] + blob[h + 2 * c :]
    with pytest.raises(ba.ArchiveError):
        unseal(swapped)


def test_a_changed_header_does_not_open() -> None:
    blob = bytearray(seal(os.urandom(100)))
    blob[len(ba.MAGIC) + 1 + 3] ^= 1  # a salt byte
    with pytest.raises(ba.ArchiveError):
        unseal(bytes(blob))


def test_a_file_that_is_not_a_backup_says_so() -> None:
    with pytest.raises(ba.ArchiveError, match="not a Berth platform backup"):
        ba.read_header(io.BytesIO(b"PGDMP\x01\x0e"))
    with pytest.raises(ba.ArchiveError, match="cut short"):
        ba.read_header(io.BytesIO(ba.MAGIC + b"\x05k-"))
