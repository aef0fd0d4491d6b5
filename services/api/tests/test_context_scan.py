"""The uploaded context's unpacked size is bounded while it is read, and its Dockerfile is found."""

from __future__ import annotations

import io
import tarfile
import zlib

import pytest
from berth_api import context_scan
from berth_api.context_scan import ContextTooLarge
from berth_shared.errors import ValidationFailed

MIB = 1024 * 1024


def archive(members: dict[str, bytes], mode: str = "w:gz", **links: str) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode, format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in links.items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    out.seek(0)
    return out


def gzip_bomb(member_size: int) -> io.BytesIO:
    """A tar.gz of one file of zeros: a few KiB that unpack to ``member_size`` bytes."""
    info = tarfile.TarInfo("zeros.bin")
    info.size = member_size
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    parts = [squeeze.compress(info.tobuf(format=tarfile.GNU_FORMAT))]
    zeros = bytes(MIB)
    for _ in range(member_size // MIB):
        parts.append(squeeze.compress(zeros))
    parts.append(squeeze.compress(bytes(1024)))  # end of archive
    parts.append(squeeze.flush())
    return io.BytesIO(b"".join(parts))


def test_finds_the_dockerfile_and_counts_headers_and_blocks() -> None:
    raw = archive({"./Dockerfile": b"FROM x\nRUN true\n", "app/main.py": b"x" * 1000})
    summary = context_scan.scan(raw, "Dockerfile", 10 * MIB)
    assert summary.dockerfile == "FROM x\nRUN true\n"
    # Each member: its header (and a pax header in front) plus data padded to 512-byte blocks.
    assert 512 * 2 + 512 + 1024 <= summary.unpacked_bytes <= 8 * 512 + 1024


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_every_compression_the_engine_takes(mode: str) -> None:
    summary = context_scan.scan(archive({"docker/Dockerfile.prod": b"FROM y\n"}, mode), "docker/Dockerfile.prod", MIB)
    assert summary.dockerfile == "FROM y\n"


def test_a_long_path_in_a_pax_header_is_followed() -> None:
    deep = "/".join(["d" * 60] * 4) + "/Dockerfile"
    assert context_scan.scan(archive({deep: b"FROM z\n"}), deep, MIB).dockerfile == "FROM z\n"


def test_gzip_bomb_is_refused_before_its_data_is_unpacked() -> None:
    bomb = gzip_bomb(64 * MIB)
    assert len(bomb.getvalue()) < 200 * 1024
    with pytest.raises(ContextTooLarge) as refused:
        context_scan.scan(bomb, "Dockerfile", 8 * MIB)
    assert refused.value.http_status == 413 and refused.value.code == "payload_too_large"
    assert "unpacks to more than 8 MiB" in refused.value.message


def test_many_members_add_up_to_the_limit() -> None:
    raw = archive({f"f{i}": bytes(300 * 1024) for i in range(10)})
    with pytest.raises(ContextTooLarge):
        context_scan.scan(raw, "Dockerfile", 2 * MIB)
    raw.seek(0)
    assert context_scan.scan(raw, "Dockerfile", 4 * MIB).dockerfile is None


def test_a_dockerfile_that_is_a_link_is_refused() -> None:
    raw = archive({"real": b"FROM x\nADD https://example.com/x /x\n"}, Dockerfile="real")
    with pytest.raises(ValidationFailed) as refused:
        context_scan.scan(raw, "Dockerfile", MIB)
    assert refused.value.details[0].field == "body"
    assert "regular file" in refused.value.details[0].message


def test_an_oversized_long_name_record_is_refused_without_reading_it() -> None:
    header = tarfile.TarInfo("././@LongLink")
    header.type = tarfile.GNUTYPE_LONGNAME
    header.size = 512 * MIB
    raw = io.BytesIO(header.tobuf(format=tarfile.USTAR_FORMAT) + bytes(1024))
    with pytest.raises(ValidationFailed) as refused:
        context_scan.scan(raw, "Dockerfile", 1024 * MIB)
    assert "too large" in refused.value.message


def test_not_an_archive() -> None:
    with pytest.raises(ValidationFailed):
        context_scan.scan(io.BytesIO(b"\x1f\x8b" + b"garbage" * 100), "Dockerfile", MIB)
