"""The tar reader's two ways of reading a header's numbers agree: the usual layout (octal
digits and a NUL in each field, the checksum as six digits, a NUL and a space) is read in
one match, any other through the general field parser; both give what tarfile reads."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hullcheck import tarstream
from hullcheck.errors import UnsafeLayer
from hullcheck.tarstream import TarReader
from tests.fixtures.tars import calls, tar_of

# name, (offset, width) of each numeric field of a ustar header
FIELDS = {"mode": (100, 8), "uid": (108, 8), "gid": (116, 8), "size": (124, 12)}


def _count_general_reads(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    return calls(monkeypatch, tarstream, "_number", lambda field, what: field)


def _members(data: bytes) -> list[tuple[str, int, int, int, int, bytes]]:
    reader = TarReader(iter([data]), what="layer 0")
    return [(m.name, m.mode, m.uid, m.gid, m.size, reader.read(1 << 20)) for m in reader]


def _oracle(data: bytes) -> list[tuple[str, int, int, int, int, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return [(m.name, m.mode & 0o7777, m.uid, m.gid, m.size,
                 tf.extractfile(m).read() if m.isfile() else b"")  # type: ignore[union-attr]
                for m in tf]


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_headers_tarfile_writes_are_read_in_one_match(monkeypatch: pytest.MonkeyPatch,
                                                      fmt: int) -> None:
    def numbers(i: int, info: tarfile.TarInfo) -> None:
        info.mode, info.uid, info.gid = 0o4755, 1000 + i, 2000

    names = ["a", "d" * 60 + "/" + "e" * 60, "e/f"]
    data = tar_of({name: b"x" * 3 * i for i, name in enumerate(names)}, fmt=fmt, edit=numbers)
    seen = _count_general_reads(monkeypatch)
    assert _members(data) == _oracle(data)
    assert seen == []  # not one field went through the general parser


def _header(numbers: dict[str, bytes], checksum: str) -> bytes:
    """A ustar header for "f" with each numeric field as given and its checksum written
    in the ``checksum`` layout (a % format of the byte sum)."""
    info = tarfile.TarInfo("f")
    h = bytearray(info.tobuf(format=tarfile.USTAR_FORMAT))
    for field, raw in numbers.items():
        at, width = FIELDS[field]
        h[at:at + width] = raw
    h[148:156] = b" " * 8
    h[148:156] = (checksum % sum(h)).encode().ljust(8, b" ")[:8]
    return bytes(h)


def _field(value: int, width: int, style: str) -> bytes:
    digits = b"%o" % value
    return {
        "plain": digits.rjust(width - 1, b"0") + b"\0",
        "spaces": b" " + digits.rjust(width - 3, b"0") + b" \0",
        "short": digits + b"\0" * (width - len(digits)),
        "full": digits.rjust(width, b"0"),
        "junk-after-nul": digits.rjust(width - 3, b"0") + b"\0xy",
    }[style]


STYLES = st.sampled_from(["plain", "spaces", "short", "full", "junk-after-nul"])
CHECKSUMS = st.sampled_from(["%06o\0 ", "%07o\0", "%06o  ", " %06o\0", "%o\0", "%08o"])


@settings(max_examples=300, deadline=None)
@given(mode=st.integers(0, 0o7777), uid=st.integers(0, 0o77777), gid=st.integers(0, 0o77777),
       size=st.integers(0, 1500), styles=st.lists(STYLES, min_size=4, max_size=4),
       checksum=CHECKSUMS)
def test_every_layout_of_the_numbers_reads_as_tarfile_reads_it(
        mode: int, uid: int, gid: int, size: int, styles: list[str], checksum: str) -> None:
    values = {"mode": mode, "uid": uid, "gid": gid, "size": size}
    numbers = {f: _field(values[f], FIELDS[f][1], s)
               for f, s in zip(FIELDS, styles, strict=True)}
    data = _header(numbers, checksum) + b"D" * size + bytes(-size % 512) + bytes(1024)
    assert _members(data) == _oracle(data) == [("f", mode, uid, gid, size, b"D" * size)]


@pytest.mark.parametrize("checksum", ["%06o\0 ", "%07o\0"])
def test_a_wrong_checksum_is_refused_in_either_layout(checksum: str) -> None:
    h = bytearray(_header({}, checksum))
    h[0] = ord("g")  # the name changed after the checksum was written
    with pytest.raises(UnsafeLayer, match="bad tar header checksum"):
        _members(bytes(h) + bytes(1024))


def test_a_checksum_over_signed_bytes_still_passes_in_the_usual_layout() -> None:
    """Old tars summed the header as signed bytes; a name with bytes over 127 tells them
    apart. Read in one match, the signed sum is still tried."""
    info = tarfile.TarInfo("\xe9t\xe9")
    h = bytearray(info.tobuf(format=tarfile.USTAR_FORMAT, encoding="latin-1"))
    h[148:156] = b" " * 8
    signed = sum(b - 256 if b > 127 else b for b in h)
    h[148:156] = b"%06o\0 " % signed
    assert [m[0] for m in _members(bytes(h) + bytes(1024))] == ["\udce9t\udce9"]


def _off_by_the_modulus(high: bool, delta: int) -> bytes:
    """A ustar header whose stored checksum is its true byte sum + ``delta``; ``high``: its
    name, link name and prefix are 0xff bytes (a sum of over 90,000)."""
    info = tarfile.TarInfo("f")
    h = bytearray(info.tobuf(format=tarfile.USTAR_FORMAT))
    if high:
        for at, width in ((0, 100), (157, 100), (345, 155)):
            h[at:at + width] = b"\xff" * width
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % (sum(h) + delta)
    return bytes(h)


@pytest.mark.parametrize(("high", "delta"), [
    (False, 65521),  # all ASCII: the sum is small, the stored one 65,521 more
    (True, -65521),  # a sum over 65,521 (bytes over 127), stored 65,521 less
], ids=["ascii-plus", "high-bytes-minus"])
def test_a_checksum_off_by_adlers_modulus_is_refused(high: bool, delta: int) -> None:
    """adler32 gives the byte sum modulo 65,521: a checksum that differs from the true sum by
    exactly that is as wrong as any other (tarfile refuses it too)."""
    data = _off_by_the_modulus(high, delta) + bytes(1024)
    with pytest.raises(tarfile.ReadError):
        _oracle(data)
    with pytest.raises(UnsafeLayer, match="bad tar header checksum"):
        _members(data)


def _count_checksum_reads(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    return calls(monkeypatch, tarstream, "_checksum_ok", lambda header, stored_field: stored_field)


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_usual_checksums_are_checked_without_the_general_reader(monkeypatch: pytest.MonkeyPatch,
                                                                fmt: int) -> None:
    """The usual all-ASCII header's checksum is compared in one step (adler32's byte sum);
    the general checksum reader is for other layouts and a sum that did not match."""
    names = ["a", "d" * 60 + "/" + "e" * 60]
    data = tar_of(dict.fromkeys(names, b"x" * 700), fmt=fmt)
    seen = _count_checksum_reads(monkeypatch)
    assert [m[0] for m in _members(data)] == names
    assert seen == []


@pytest.mark.parametrize("checksum", ["%06o\0 ", "%07o\0"])
@pytest.mark.parametrize("delta", [-2, -1, 1, 2])
def test_a_checksum_off_by_a_little_is_refused(checksum: str, delta: int) -> None:
    h = bytearray(_header({}, checksum))
    h[148:156] = b" " * 8
    h[148:156] = (checksum % (sum(h) + delta)).encode()
    with pytest.raises(UnsafeLayer, match="bad tar header checksum"):
        _members(bytes(h) + bytes(1024))


@pytest.mark.parametrize("checksum", ["%06o\0\0", "%o\0\0\0\0", "%06o\0\0 "])
def test_a_checksum_followed_by_several_nuls_passes_as_tarfile_reads_it(checksum: str) -> None:
    data = _header({}, checksum) + bytes(1024)
    assert _members(data) == _oracle(data) == [("f", 0o644, 0, 0, 0, b"")]


def _signed_header(name_byte: int, stored: Callable[[bytes], int]) -> bytes:
    """A ustar header for a name holding ``name_byte``, its checksum ``stored(header)``."""
    h = bytearray(tarfile.TarInfo("a").tobuf(format=tarfile.USTAR_FORMAT))
    h[1] = name_byte
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % stored(bytes(h))
    return bytes(h)


@pytest.mark.parametrize("byte", [0x80, 0xFF])
def test_a_checksum_over_signed_bytes_counts_every_byte_from_128(byte: int) -> None:
    data = _signed_header(byte, lambda h: sum(b - 256 if b > 127 else b for b in h))
    assert [m[0] for m in _members(data + bytes(1024))] == ["a" + chr(0xDC00 + byte)]


def test_a_delete_byte_is_not_a_signed_byte() -> None:
    """0x7f is 127 signed or not: a checksum 256 less than the sum is wrong."""
    data = _signed_header(0x7F, lambda h: sum(h) - 256)
    with pytest.raises(UnsafeLayer, match="bad tar header checksum"):
        _members(data + bytes(1024))


def test_a_checksum_that_is_no_number_is_refused_as_not_a_tar() -> None:
    text = (b'{"schemaVersion": 2, "layers": []}' * 20)[:600]
    with pytest.raises(UnsafeLayer, match=r"^layer 0: bad tar header checksum \(corrupt or not a tar\)$"):
        _members(text + bytes(1024))


def _with_checksum(h: bytearray) -> bytes:
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def _base256(value: int, width: int) -> bytes:
    return (value % (1 << (8 * (width - 1)))).to_bytes(width - 1, "big").rjust(width - 1, b"\0")


@pytest.mark.parametrize("uid", [0x40 << 48, (0x7F << 48) + 5, 3_000_000])
def test_base256_ids_are_read_from_every_byte_after_the_marker(uid: int) -> None:
    """GNU tar's base-256: 0x80, then the number in the other bytes (the first of them may
    hold bit 0x40, which in the marker byte would mean negative)."""
    h = bytearray(_header({}, "%06o\0 "))
    h[108:116] = b"\x80" + _base256(uid, 8)
    data = _with_checksum(h) + bytes(1024)
    assert _members(data) == _oracle(data) == [("f", 0o644, uid, 0, 0, b"")]


@pytest.mark.parametrize("rest", [b"\xff" * 7, b"\x80" + bytes(6)])
def test_a_negative_base256_number_is_refused_by_name(rest: bytes) -> None:
    h = bytearray(_header({}, "%06o\0 "))
    h[108:116] = b"\xff" + rest
    with pytest.raises(UnsafeLayer) as caught:
        _members(_with_checksum(h) + bytes(1024))
    assert str(caught.value) == "layer 0: negative number in tar header"


def test_usual_fields_are_read_with_all_their_digits() -> None:
    """Seven digits of mode, uid and gid and eleven of size: the first counts too (a uid
    over 262,143, a size of a GiB or more)."""
    info = tarfile.TarInfo("big")
    info.size, info.mode, info.uid, info.gid = (1 << 30) + 5, 0o7755, 0o1234567, 0o7654321
    h = info.tobuf(format=tarfile.USTAR_FORMAT)
    assert h[100:136] == b"0007755\0" + b"1234567\0" + b"7654321\0" + b"10000000005\0"
    reader = TarReader(iter([h]), what="layer 0")
    m = next(iter(reader))
    assert (m.name, m.size, m.mode, m.uid, m.gid) == ("big", (1 << 30) + 5, 0o7755, 0o1234567,
                                                      0o7654321)


def test_an_empty_name_field_is_an_empty_name() -> None:
    """A name field of NULs (or one that starts with a NUL) is "", as tarfile reads it."""
    h = bytearray(_header({}, "%06o\0 "))
    h[0:100] = b"\0junk" + bytes(95)
    data = _with_checksum(h) + bytes(1024)
    assert _members(data) == _oracle(data) == [("", 0o644, 0, 0, 0, b"")]


def test_the_prefix_ends_at_its_155th_byte() -> None:
    """The ustar prefix is bytes 345-499; what follows it (padding) is no part of the name."""
    name = "p" * 155 + "/n"
    h = bytearray(tarfile.TarInfo(name).tobuf(format=tarfile.USTAR_FORMAT))
    assert h[345:500] == b"p" * 155
    h[500] = ord("X")
    data = _with_checksum(h) + bytes(1024)
    assert [m[0] for m in _members(data)] == [name]


def test_a_link_name_may_fill_its_100_bytes() -> None:
    info = tarfile.TarInfo("l")
    info.type, info.linkname = tarfile.SYMTYPE, "t" * 99 + "u"
    h = info.tobuf(format=tarfile.USTAR_FORMAT)
    assert h[157:257] == b"t" * 99 + b"u" and h[257:263] == b"ustar\0"
    (m,) = list(TarReader(iter([h + bytes(1024)]), what="layer 0"))
    assert m.linkname == "t" * 99 + "u"


def test_a_long_name_record_that_starts_with_nul_is_empty() -> None:
    """GNU ``L`` data is text up to its first NUL, even when that is its first byte."""
    long = tarfile.TarInfo("././@LongLink")
    long.type, long.size = tarfile.GNUTYPE_LONGNAME, 5
    data = (long.tobuf(format=tarfile.USTAR_FORMAT) + b"\0abc\0" + bytes(507)
            + tarfile.TarInfo("short").tobuf(format=tarfile.USTAR_FORMAT) + bytes(1024))
    assert [m[0] for m in _members(data)] == [""]
