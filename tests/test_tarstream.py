"""The streaming tar reader agrees with Python's tarfile on real archives, and refuses junk."""

from __future__ import annotations

import io
import tarfile

import pytest

from hullcheck.errors import UnsafeLayer
from hullcheck.tarstream import TarReader


def _archive(fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, data in [("a.txt", b"hello"), ("d/" + "long" * 40 + ".txt", b"x" * 700),
                           ("ünï/cödé", b"\xff\x00")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o4755
            info.uid, info.gid = 1000, 3000000  # gid needs base-256 / pax in some formats
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("l" * 120)
        link.type = tarfile.SYMTYPE
        link.linkname = "t" * 150
        tf.addfile(link)
        d = tarfile.TarInfo("dir")
        d.type = tarfile.DIRTYPE
        tf.addfile(d)
    return buf.getvalue()


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
@pytest.mark.parametrize("chunk", [1, 511, 512, 4096, 1 << 20])
def test_members_match_tarfile(fmt: int, chunk: int) -> None:
    data = _archive(fmt)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        want = [(m.name, m.size, m.mode, m.uid, m.gid, m.linkname, m.type[0]) for m in tf]
    reader = TarReader(iter(_chunks(data, chunk)), what="t")
    got = []
    contents = {}
    for m in reader:
        got.append((m.name.rstrip("/"), m.size, m.mode, m.uid, m.gid, m.linkname, m.type))
        if m.is_file:
            contents[m.name] = reader.read(m.size)
    assert got == want
    assert contents["a.txt"] == b"hello" and contents["ünï/cödé"] == b"\xff\x00"


def test_corrupt_checksum_is_refused() -> None:
    data = bytearray(_archive(tarfile.GNU_FORMAT))
    data[10] ^= 0x01  # inside the first name: the stored checksum no longer fits
    with pytest.raises(UnsafeLayer, match="bad tar header checksum"):
        list(TarReader(iter([bytes(data)]), what="layer 0"))


def test_truncated_member_data_is_refused() -> None:
    data = _archive(tarfile.GNU_FORMAT)
    reader = TarReader(iter([data[:700]]), what="layer 0")
    with pytest.raises(UnsafeLayer, match="truncated"):
        for m in reader:
            if m.is_file:
                reader.read(m.size)


def test_oversized_pax_header_is_refused() -> None:
    info = tarfile.TarInfo("x")
    info.type = tarfile.XHDTYPE
    info.size = 2 << 20
    header = info.tobuf(format=tarfile.USTAR_FORMAT)
    with pytest.raises(UnsafeLayer, match="oversized"):
        list(TarReader(iter([header + bytes(1024)]), what="layer 0"))
