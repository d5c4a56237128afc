"""What the `layers` mutation run's survivors changed, pinned: the hard links a linking sink
is told of, the bytes ``TarReader.update`` hands over (and in how many pieces), a last
member without its padding, and a reader that stays truncated after the error."""

from __future__ import annotations

import hashlib
import io
import tarfile

import pytest

from hullcheck.errors import UnsafeLayer
from hullcheck.filetree.globset import GlobSet
from hullcheck.filetree.tar import read_tar
from hullcheck.tarstream import TarReader
from tests.fixtures.tars import tar_of


class _Linking:
    """A linking sink that wants no file and records each hard link it is told of."""

    def __init__(self) -> None:
        self.links: list[tuple[int, str, str, bool, bool]] = []

    def wants(self, path: str, size: int) -> bool:
        return False

    def take(self, layer: int, path: str, data: bytes) -> None:
        raise AssertionError(f"take({path!r}) for a sink that wants nothing")

    def take_link(self, layer: int, path: str, target: str, matched: bool,
                  kept: bool) -> None:
        self.links.append((layer, path, target, matched, kept))


def _with_links() -> bytes:
    """Two files and three hard links: to a kept file from a matched path, to a kept file
    from a path the globs do not match, to a file not kept from a matched path."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in [("k/a", b"kept"), ("other/b", b"not kept")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in [("k/link", "k/a"), ("x/link", "k/a"), ("k/link2", "other/b")]:
            link = tarfile.TarInfo(name)
            link.type = tarfile.LNKTYPE
            link.linkname = target
            tf.addfile(link)
    return buf.getvalue()


def test_a_linking_sink_is_told_each_hard_link_whole() -> None:
    # read_tar__mutmut_196..206: each argument of take_link dropped, None, or `kept` negated.
    sink = _Linking()
    read_tar(iter([_with_links()]), index=7, what="layer 7", wanted=GlobSet(["/k/*"]),
             sink=sink)
    assert sink.links == [
        (7, "/k/link", "/k/a", True, True),
        (7, "/x/link", "/k/a", False, True),
        (7, "/k/link2", "/other/b", True, False),
    ]
    for _layer, _path, _target, matched, kept in sink.links:
        assert type(matched) is bool and type(kept) is bool


def _one_member(data: bytes) -> bytes:
    """A tar of one file, ``data``, cut after the member's data: no padding and no
    end-of-archive blocks (umoci writes a last member without its padding)."""
    return tar_of({"f": data}, fmt=tarfile.GNU_FORMAT)[: 512 + len(data)]


def test_update_hashes_a_last_member_ending_with_the_last_chunk() -> None:
    # update__mutmut_8: `<=` asked for a chunk after the one the data ends in (none: an error).
    data = b"0123456789" * 70  # 700 bytes: the second chunk ends exactly where they do
    archive = _one_member(data)
    reader = TarReader(iter([archive[:600], archive[600:]]), what="layer 0")
    members = iter(reader)
    m = next(members)
    h = hashlib.sha256()
    assert reader.update(h.update, m.size) == 700
    assert h.digest() == hashlib.sha256(data).digest()
    assert next(members, None) is None


def test_update_gives_one_piece_per_chunk_and_no_empty_one() -> None:
    # update__mutmut_9: `pos <= len(buf)` handed an empty view of the header's chunk first.
    data = bytes(range(256)) * 4  # 1,024 bytes: two whole chunks after the header's
    archive = tar_of({"f": data}, fmt=tarfile.GNU_FORMAT)
    chunks = [archive[i : i + 512] for i in range(0, len(archive), 512)]
    reader = TarReader(iter(chunks), what="layer 0")
    m = next(iter(reader))
    pieces: list[bytes] = []
    assert reader.update(lambda view: pieces.append(bytes(view)), m.size) == 1024
    assert pieces == [data[:512], data[512:]]


def test_the_reader_stays_truncated_after_update_finds_the_data_short() -> None:
    # update__mutmut_21: the spent buffer left as 4 bytes of junk, which the next step
    # skipped as the member's rest and read the missing padding as a clean end.
    archive = _one_member(b"abc")[:513]  # the header and one of the file's three bytes
    reader = TarReader(iter([archive[:512], archive[512:]]), what="layer 0")
    members = iter(reader)
    m = next(members)
    got: list[bytes] = []
    with pytest.raises(UnsafeLayer, match=r"^layer 0: truncated tar \(member data ends early\)$"):
        reader.update(lambda view: got.append(bytes(view)), m.size)
    assert got == [b"a"]
    with pytest.raises(UnsafeLayer, match=r"^layer 0: truncated tar \(member data ends early\)$"):
        next(members)
