"""The streaming tar reader agrees with Python's tarfile on real archives, and refuses junk."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from collections.abc import Callable, Iterator

import pytest

from hullcheck.errors import UnsafeLayer
from hullcheck.tarstream import TarReader
from tests.fixtures.tars import tar_of


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
    cut = data.index(b"x" * 700) + 100  # inside the second file's data
    reader = TarReader(iter([data[:cut]]), what="layer 0")
    with pytest.raises(UnsafeLayer, match="truncated"):
        for m in reader:
            if m.is_file:
                reader.read(m.size)
    # Unread member data that ends early is refused too.
    with pytest.raises(UnsafeLayer, match="member data ends early"):
        list(TarReader(iter([data[:cut]]), what="layer 0"))


def test_missing_padding_after_the_last_member_ends_the_archive() -> None:
    """Go's archive/tar (Docker, containerd, umoci) reads an archive whose last member's
    padding is cut (no footer either) as ended; so does hullcheck."""
    data = _archive(tarfile.GNU_FORMAT)
    end = data.index(b"hello") + 5  # a.txt's data complete, its padding missing
    reader = TarReader(iter([data[:end]]), what="layer 0")
    members = [(m.name, reader.read(m.size)) for m in reader]
    assert members == [("a.txt", b"hello")]


def test_oversized_pax_header_is_refused() -> None:
    info = tarfile.TarInfo("x")
    info.type = tarfile.XHDTYPE
    info.size = 2 << 20
    header = info.tobuf(format=tarfile.USTAR_FORMAT)
    with pytest.raises(UnsafeLayer, match="oversized"):
        list(TarReader(iter([header + bytes(1024)]), what="layer 0"))


def _header(name: bytes, size_field: bytes) -> bytes:
    """A ustar header with a hand-written size field and a correct checksum."""
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108], h[108:116], h[116:124] = b"0000644\x00", b"0000000\x00", b"0000000\x00"
    h[124:136] = size_field
    h[136:148] = b"00000000000\x00"
    h[156] = ord("0")
    h[257:265] = b"ustar\x0000"
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\x00 " % sum(h)
    return bytes(h)


@pytest.mark.parametrize("size_field", [b"-0000000001\x00", b"+0000000001\x00",
                                        b"0_000000001\x00", b"00000000009\x00"])
def test_signed_or_non_octal_numbers_are_refused(size_field: bytes) -> None:
    data = _header(b"a", size_field) + b"X" * 512 + bytes(1024)
    with pytest.raises(UnsafeLayer, match="invalid number"):
        list(TarReader(iter([data]), what="layer 0"))


def test_octal_numbers_with_spaces_and_nuls_still_parse() -> None:
    for field in (b"00000000001\x00", b" 1\x00         ", b"1          \x00"):
        reader = TarReader(iter([_header(b"a", field) + b"X" * 512 + bytes(1024)]), what="l")
        (member,) = [(m.name, m.size, reader.read(10)) for m in reader]
        assert member == ("a", 1, b"X")


def _pax_then_file(records: bytes) -> bytes:
    """A pax extended header holding ``records`` (as written, not re-encoded), then a file."""
    pax = tarfile.TarInfo("PaxHeaders/a")
    pax.type = tarfile.XHDTYPE
    pax.size = len(records)
    member = tarfile.TarInfo("a")
    member.size = 1
    return b"".join([
        pax.tobuf(format=tarfile.USTAR_FORMAT), records, bytes((-len(records)) % 512),
        member.tobuf(format=tarfile.USTAR_FORMAT), b"X" + bytes(511), bytes(1024),
    ])


def _record(key: bytes, value: bytes) -> bytes:
    """One pax record, ``"%d %s=%s\\n"`` with the length counting itself."""
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n += 1
    return str(n).encode() + body


def _names(data: bytes) -> list[tuple[str, str]]:
    return [(m.name, m.linkname) for m in TarReader(iter([data]), what="layer 0")]


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (b"a b c", "a b c"),  # a space inside the first 20 bytes belongs to the value
        (b"x=y=z", "x=y=z"),  # only the first "=" ends the key
        (b"\xff\xfeno-utf8", "\udcff\udcfeno-utf8"),  # kept as surrogate escapes, not refused
    ],
)
def test_pax_path_values_are_taken_whole(value: bytes, name: str) -> None:
    assert _names(_pax_then_file(_record(b"path", value))) == [(name, "")]


def test_pax_keys_that_are_not_utf8_are_kept_not_refused() -> None:
    records = _record(b"\xffkey", b"ignored") + _record(b"linkpath", b"t")
    assert _names(_pax_then_file(records)) == [("a", "t")]


def test_pax_records_end_at_nul_padding() -> None:
    """Some writers pad the pax data with NULs; the records before them still count."""
    assert _names(_pax_then_file(_record(b"path", b"named") + bytes(30))) == [("named", "")]


@pytest.mark.parametrize(
    ("records", "message"),
    [
        (b"1" * 30 + b" path=a\n", "malformed pax header"),  # no space within 20 bytes
        (b"ab path=a\n", "malformed pax record length"),
        (b"0 path=abc\n", "malformed pax record"),  # a zero length would never advance
        (b"99 path=a\n", "malformed pax record"),  # longer than the data
        (b"11 path=abcX", "malformed pax record"),  # not ended by a newline
        (b"12 pathabcd\n", "malformed pax record"),  # no "="
    ],
)
def test_malformed_pax_records_are_one_named_error(records: bytes, message: str) -> None:
    with pytest.raises(UnsafeLayer, match=f"^layer 0: {message}$"):
        _names(_pax_then_file(records))


def test_decompress_ahead_loses_no_chunk_while_its_queue_is_full() -> None:
    """The producer waits (in 0.1 s turns) for room; no chunk is dropped meanwhile."""
    import threading
    import time

    from hullcheck.tarstream import decompress_ahead

    blocked = threading.Event()

    def source() -> Iterator[bytes]:
        for i in range(6):
            if i == 2:
                blocked.set()  # chunk 0 queued, chunk 1 waiting for room
            yield bytes([i])

    ahead = decompress_ahead(source(), depth=1)
    first = next(ahead)
    assert blocked.wait(10)
    time.sleep(0.35)  # several of the producer's turns with the queue full
    assert [first, *ahead] == [bytes([i]) for i in range(6)]


def test_decompress_ahead_stops_its_thread_when_the_consumer_stops() -> None:
    import threading

    from hullcheck.tarstream import decompress_ahead

    produced = []
    full = threading.Event()

    def source() -> Iterator[bytes]:
        for i in range(1000):
            produced.append(i)
            if i == 3:
                full.set()  # one taken, two queued: this one waits for room
            yield b"x"

    before = threading.active_count()
    ahead = decompress_ahead(source(), depth=2)
    assert next(ahead) == b"x"
    assert full.wait(10)
    ahead.close()  # joins the producer, which must notice through its put timeout
    assert threading.active_count() == before
    assert len(produced) < 10


def test_decompress_ahead_raises_the_producers_error_in_the_consumer() -> None:
    from hullcheck.tarstream import decompress_ahead

    def source() -> Iterator[bytes]:
        yield b"a"
        raise UnsafeLayer("layer 0: digest mismatch")

    ahead = decompress_ahead(source())
    assert next(ahead) == b"a"
    with pytest.raises(UnsafeLayer, match="digest mismatch"):
        next(ahead)


def test_numeric_fields_of_nuls_are_zero_and_names_fill_their_field() -> None:
    """Some writers leave uid/gid as NULs (Go reads 0); a ustar name may use all 100 bytes
    with no NUL after it; names that are not UTF-8 are kept as surrogate escapes."""
    name = b"n" * 99 + b"\xe9"  # 100 bytes, Latin-1 at the end
    h = bytearray(_header(name, b"00000000001\x00"))
    h[108:116] = bytes(8)  # uid: all NULs
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\x00 " % sum(h)
    reader = TarReader(iter([bytes(h) + b"X" * 512 + bytes(1024)]), what="l")
    (member,) = list(reader)
    assert (member.name, member.uid, member.size) == ("n" * 99 + "\udce9", 0, 1)


def test_numbers_and_checksums_filling_their_whole_field_parse_like_tarfile() -> None:
    """A writer may use every byte of a numeric field for digits (no NUL or space after
    them): twelve digits of size, eight of checksum. Nothing may be cut off the end."""
    h = bytearray(_header(b"a", b"000000001000"))  # 512, in all twelve bytes
    h[148:156] = b" " * 8
    h[148:156] = b"%08o" % sum(h)
    data = bytes(h) + b"X" * 512 + bytes(1024)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert [(m.name, m.size) for m in tf] == [("a", 512)]  # the oracle agrees
    reader = TarReader(iter([data]), what="l")
    assert [(m.name, m.size, reader.read(1000)) for m in reader] == [("a", 512, b"X" * 512)]


def _wait_for(event_or_test: Callable[[], bool], seconds: float = 30.0) -> None:
    """Poll until true (the producer thread is on another core, or not scheduled yet)."""
    import time

    end = time.monotonic() + seconds
    while not event_or_test():
        assert time.monotonic() < end, "the producer thread never got there"
        time.sleep(0.01)


def test_decompress_ahead_holds_at_most_four_chunks_ahead_by_default() -> None:
    """The memory bound: one chunk taken, four queued, one waiting for room; no seventh
    is produced however long the consumer waits."""
    import time

    from hullcheck.tarstream import decompress_ahead

    produced: list[int] = []

    def source() -> Iterator[bytes]:
        for i in range(100):
            produced.append(i)
            yield bytes([i])

    ahead = decompress_ahead(source())
    assert next(ahead) == b"\x00"
    _wait_for(lambda: len(produced) >= 6)
    time.sleep(0.5)  # several of the producer's 0.1 s turns at a full queue
    assert len(produced) == 6
    assert list(ahead) == [bytes([i]) for i in range(1, 100)]


def test_decompress_ahead_runs_in_a_daemon_thread_named_decompress() -> None:
    """A daemon: a producer stuck in a read never keeps the process from exiting; named, so
    a thread dump says what it is."""
    import threading

    from hullcheck.tarstream import decompress_ahead

    seen: list[tuple[str, bool]] = []

    def source() -> Iterator[bytes]:
        me = threading.current_thread()
        seen.append((me.name, me.daemon))
        yield b"x"

    assert list(decompress_ahead(source())) == [b"x"]
    assert seen == [("decompress", True)]


@pytest.mark.parametrize("ending", ["end", "error"])
def test_decompress_ahead_end_marker_waits_for_room(ending: str) -> None:
    """The end (or the producer's error) comes while the queue is full: it is queued once
    the consumer makes room, never dropped (the consumer would wait for it forever)."""
    import time

    from hullcheck.tarstream import decompress_ahead

    finished = threading.Event()

    def source() -> Iterator[bytes]:
        yield b"a"
        yield b"b"
        finished.set()  # the producer now queues the end marker, with "b" filling the queue
        if ending == "error":
            raise UnsafeLayer("layer 0: digest mismatch")

    ahead = decompress_ahead(source(), depth=1)
    assert next(ahead) == b"a"
    assert finished.wait(30)
    time.sleep(0.35)  # the marker meets a full queue for several turns
    if ending == "end":
        assert list(ahead) == [b"b"]
    else:
        assert next(ahead) == b"b"
        with pytest.raises(UnsafeLayer, match="digest mismatch"):
            next(ahead)


@pytest.mark.parametrize("ending", ["end", "error"])
def test_decompress_ahead_stops_while_its_end_marker_waits(ending: str) -> None:
    """The consumer stops while the end marker waits for room: the producer notices (its
    wait is in 0.1 s turns, not forever) and the consumer's close returns."""
    import time

    from hullcheck.tarstream import decompress_ahead

    finished = threading.Event()

    def source() -> Iterator[bytes]:
        yield b"a"
        yield b"b"
        finished.set()
        if ending == "error":
            raise UnsafeLayer("layer 0: digest mismatch")

    before = threading.active_count()
    ahead = decompress_ahead(source(), depth=1)
    assert next(ahead) == b"a"
    assert finished.wait(30)
    time.sleep(0.35)  # the producer is inside its wait for room
    ahead.close()
    assert threading.active_count() == before


def _with_checksum(h: bytearray) -> bytes:
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\x00 " % sum(h)
    return bytes(h)


@pytest.mark.parametrize(("field", "where"), [
    ("mode", slice(100, 108)), ("uid", slice(108, 116)), ("gid", slice(116, 124)), ("size", slice(124, 136)),
])
def test_a_bad_number_in_any_field_names_the_layer(field: str, where: slice) -> None:
    h = bytearray(_header(b"a", b"00000000001\x00"))
    h[where] = b"9".rjust(where.stop - where.start - 1, b"0") + b"\x00"
    data = _with_checksum(h) + b"X" * 512 + bytes(1024)
    with pytest.raises(UnsafeLayer) as caught:
        list(TarReader(iter([data]), what="layer 0"))
    digits = "9".rjust(where.stop - where.start - 1, "0")
    assert str(caught.value) == f"layer 0: invalid number b'{digits}' in tar header"


def _meta(typeflag: bytes, data: bytes, *, name: str = "meta") -> bytes:
    """A metadata member (pax ``x``/``g``, GNU ``L``/``K``) holding ``data``, padded."""
    info = tarfile.TarInfo(name)
    info.type = typeflag
    info.size = len(data)
    return info.tobuf(format=tarfile.USTAR_FORMAT) + data + bytes((-len(data)) % 512)


def _file(name: str, data: bytes, *, size: int | None = None) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = len(data) if size is None else size
    return info.tobuf(format=tarfile.USTAR_FORMAT) + data + bytes((-len(data)) % 512)


def _members(data: bytes) -> list[tuple[str, int, int, int, bytes]]:
    reader = TarReader(iter([data]), what="layer 0")
    return [(m.name, m.size, m.uid, m.gid, reader.read(1 << 20)) for m in reader]


def test_pax_size_and_ids_override_the_ustar_header() -> None:
    """A pax ``size`` (files over 8 GiB), ``uid`` and ``gid`` (over 2^21) replace the header's."""
    records = _record(b"size", b"5") + _record(b"uid", b"5000000") + _record(b"gid", b"6000000")
    data = _meta(tarfile.XHDTYPE, records) + _file("a", b"hello", size=0) + bytes(1024)
    assert _members(data) == [("a", 5, 5000000, 6000000, b"hello")]


def test_a_global_pax_header_applies_to_every_later_member() -> None:
    data = (_meta(tarfile.XGLTYPE, _record(b"uid", b"4242")) + _file("a", b"1") + _file("b", b"2")
            + bytes(1024))
    assert [(name, uid) for name, _, uid, _, _ in _members(data)] == [("a", 4242), ("b", 4242)]


@pytest.mark.parametrize(("typeflag", "records", "message"), [
    (tarfile.XGLTYPE, b"99 path=a\n", "layer 0: malformed pax record"),
    (tarfile.XHDTYPE, _record(b"size", b"abc"), "layer 0: invalid number in pax header"),
    (tarfile.XHDTYPE, _record(b"uid", b"-"), "layer 0: invalid number in pax header"),
    (tarfile.XHDTYPE, _record(b"size", b"-1"), "layer 0: negative size in pax header"),
])
def test_bad_pax_values_are_refused_word_for_word(typeflag: bytes, records: bytes, message: str) -> None:
    data = _meta(typeflag, records) + _file("a", b"1") + bytes(1024)
    with pytest.raises(UnsafeLayer) as caught:
        _members(data)
    assert str(caught.value) == message


@pytest.mark.parametrize(("typeflag", "size", "refused"), [
    (tarfile.GNUTYPE_LONGNAME, 64 << 10, False),        # a long name up to 64 KiB
    (tarfile.GNUTYPE_LONGNAME, (64 << 10) + 1, True),
    (tarfile.GNUTYPE_LONGLINK, (64 << 10) + 1, True),
    (tarfile.XHDTYPE, (64 << 10) + 1, False),           # a pax header up to 1 MiB
    (tarfile.XHDTYPE, 1 << 20, False),
    (tarfile.XHDTYPE, (1 << 20) + 1, True),
])
def test_metadata_headers_are_bounded_by_their_kind(typeflag: bytes, size: int, refused: bool) -> None:
    if typeflag == tarfile.XHDTYPE:  # one record, then NUL padding up to the size
        body = _record(b"comment", b"c").ljust(size, b"\x00")
    else:
        body = b"n" * (size - 1) + b"\x00"
    data = _meta(typeflag, body) + _file("a", b"1") + bytes(1024)
    if refused:
        with pytest.raises(UnsafeLayer) as caught:
            _members(data)
        assert str(caught.value) == f"layer 0: oversized tar metadata header ({size} bytes)"
    else:
        (member,) = _members(data)
        assert member[4] == b"1"


def test_a_metadata_header_cut_short_is_named() -> None:
    data = _meta(tarfile.XHDTYPE, _record(b"path", b"x" * 200))[:512 + 50]
    with pytest.raises(UnsafeLayer) as caught:
        _members(data)
    assert str(caught.value) == "layer 0: truncated tar metadata header"


def test_the_ustar_prefix_holds_the_leading_directories() -> None:
    """POSIX ustar splits a long name into prefix and name (a one-character prefix too);
    GNU headers use those bytes for other things, never as a prefix."""
    name = "d/" + "n" * 100
    info = tarfile.TarInfo(name)
    ustar = info.tobuf(format=tarfile.USTAR_FORMAT)
    assert ustar[345:347] == b"d\x00"  # tarfile put "d" in the prefix
    assert [m.name for m in TarReader(iter([ustar + bytes(1024)]), what="l")] == [name]
    gnu = bytearray(tarfile.TarInfo("a").tobuf(format=tarfile.GNU_FORMAT))
    assert gnu[257:265] == b"ustar  \x00"
    gnu[345:350] = b"junk\x00"  # GNU tar and Go's archive/tar (Docker's) read atime/ctime here
    assert [m.name for m in TarReader(iter([_with_checksum(gnu) + bytes(1024)]), what="l")] == ["a"]


def test_a_header_whose_bytes_sum_past_65520_passes_its_checksum() -> None:
    """The checksum is compared through adler32's low half (the sum mod 65521): a header of
    many high bytes (UTF-8 names, user and group names) sums past it and is still valid."""
    h = bytearray(_header(b"\xff" * 100, b"00000000001\x00"))
    h[157:257] = b"\xff" * 100                      # linkname
    h[265:297], h[297:329] = b"\xff" * 32, b"\xff" * 32  # uname, gname
    data = _with_checksum(h) + b"X" * 512 + bytes(1024)
    h[148:156] = b" " * 8
    assert sum(h) > 65521
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        assert [m.size for m in tf] == [1]  # the oracle agrees it is valid
    assert [m.size for m in TarReader(iter([data]), what="l")] == [1]


def test_a_skipped_member_ending_with_the_last_chunk_ends_the_archive() -> None:
    """No end-of-archive blocks, and the last member's data (a multiple of 512: no padding)
    ends exactly where the last chunk does: nothing is left over to read as a header."""
    data = _file("a", b"Y" * 512)
    chunks = [data[:512], data[512:]]
    assert [(m.name, m.size) for m in TarReader(iter(chunks), what="l")] == [("a", 512)]


@pytest.mark.parametrize("typeflag", [tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME])
def test_an_archive_ending_after_a_metadata_header_reads_alike_however_it_is_chunked(
        typeflag: bytes) -> None:
    """A member, then a metadata header with nothing after it (no end-of-archive blocks):
    however the bytes are split, in particular with the metadata's padding alone in the last
    chunk, the reader gives the same members and ends the same way."""
    content = b"x" if typeflag == tarfile.GNUTYPE_LONGNAME else _record(b"path", b"x")
    data = _file("a", b"hello") + _meta(typeflag, content)
    cut = len(data) - (-len(content) % 512)  # where the metadata's padding starts
    whole = [(m.name, m.size) for m in TarReader(iter([data]), what="l")]
    assert whole == [("a", 5)]
    for chunks in ([data[:cut], data[cut:]], _chunks(data, 512), _chunks(data, 1)):
        assert [(m.name, m.size) for m in TarReader(iter(chunks), what="l")] == whole


def _hashed_members(data: bytes, chunk: int, limit: int | None = None) -> list[tuple[str, bytes]]:
    """(name, sha256 of what ``update`` gave) of each file, fed ``limit`` bytes at most."""
    reader = TarReader(iter(_chunks(data, chunk)), what="t")
    out = []
    for m in reader:
        if m.is_file:
            h = hashlib.sha256()
            fed = reader.update(h.update, m.size if limit is None else limit)
            assert fed == min(m.size, m.size if limit is None else limit)
            out.append((m.name, h.digest()))
    return out


def _read_members(data: bytes, limit: int | None = None) -> list[tuple[str, bytes]]:
    reader = TarReader(iter([data]), what="t")
    return [(m.name, hashlib.sha256(reader.read(m.size if limit is None else limit)).digest())
            for m in reader if m.is_file]


_SPANNING = {f"f{i}": bytes(range(256)) * (i * 3) + b"tail" * i for i in range(12)}


@pytest.mark.parametrize("chunk", [1, 7, 511, 512, 513, 4096, 1 << 20])
def test_update_gives_what_read_returns_however_the_chunks_fall(chunk: int) -> None:
    """The member's bytes as views of the chunks they lie in, across any boundaries: the
    same bytes ``read`` copies out (empty files and files spanning many chunks included)."""
    data = tar_of(_SPANNING)
    assert _hashed_members(data, chunk) == _read_members(data)


@pytest.mark.parametrize("chunk", [1, 700, 1 << 20])
def test_update_with_a_limit_skips_the_rest_of_the_member(chunk: int) -> None:
    data = tar_of(_SPANNING)
    assert _hashed_members(data, chunk, limit=1000) == _read_members(data, limit=1000)


def test_update_of_member_data_cut_short_is_refused() -> None:
    data = tar_of({"a": b"x" * 5000})[: 512 + 3000]  # the data stops 2000 bytes early
    for chunk in (1, 1000, 1 << 20):
        reader = TarReader(iter(_chunks(data, chunk)), what="layer 2")
        member = next(iter(reader))
        with pytest.raises(UnsafeLayer, match="layer 2: truncated tar"):
            reader.update(hashlib.sha256().update, member.size)


def test_peek_shows_the_head_in_the_chunk_at_hand_and_leaves_it_unread() -> None:
    data = tar_of({"a": b"0123456789", "b": b"rest"})
    reader = TarReader(iter([data]), what="t")
    members = iter(reader)
    next(members)
    assert reader.peek(4) == b"0123" and reader.peek(100) == b"0123456789"
    assert reader.read(10) == b"0123456789"  # nothing was consumed
    assert next(members).name == "b" and reader.read(4) == b"rest"


def test_peek_of_a_head_across_chunks_is_none_and_read_still_gives_it() -> None:
    data = tar_of({"a": b"0123456789"})
    reader = TarReader(iter([data[:516], data[516:]]), what="t")  # the data's 5th byte on
    next(iter(reader))
    assert reader.peek(4) == b"0123"
    assert reader.peek(5) is None
    assert reader.read(10) == b"0123456789"


@pytest.mark.parametrize("mtime", [-5, 8**11, 8**12 - 1])
def test_a_header_whose_mtime_is_not_eleven_octal_digits_reads_like_tarfile(mtime: int) -> None:
    """base-256 (negative, or past 11 digits) or 12 digits filling the field: the header is
    read the long way (``_number``, ``_checksum_ok``), with the same fields."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        info = tarfile.TarInfo("f")
        info.size, info.mtime, info.mode, info.uid, info.gid = 3, mtime, 0o640, 7, 8
        tf.addfile(info, io.BytesIO(b"abc"))
    data = buf.getvalue()
    assert data[136:148].translate(bytes.maketrans(b"1234567", b"0000000")) != b"00000000000\0"
    reader = TarReader(iter([data]), what="t")
    got = [(m.name, m.size, m.mode, m.uid, m.gid, reader.read(m.size)) for m in reader]
    assert got == [("f", 3, 0o640, 7, 8, b"abc")]


@pytest.mark.parametrize("first", [1, 3])
@pytest.mark.parametrize("chunk", [3, 512, 1 << 20])
@pytest.mark.parametrize("how", ["read", "update", "peek"])
def test_a_negative_limit_reads_nothing_and_moves_nothing(chunk: int, how: str,
                                                          first: int) -> None:
    """A caller's limit that came out negative (a head read past where it wanted to stop)
    gives nothing and leaves the member where it was: ``read`` once moved back by it,
    and handed the bytes before the position out again (``abc``, then ``bcdefghij``);
    ``peek`` sliced from the chunk's end (``[1:-1]``)."""
    data = tar_of({"m": b"abcdefghij", "n": b"next"})
    reader = TarReader(iter(_chunks(data, chunk)), what="layer 1")
    members = iter(reader)
    assert next(members).name == "m"
    assert reader.read(first) == b"abc"[:first]
    given: list[bytes] = []
    if how == "read":
        assert reader.read(-2) == b""
    elif how == "update":
        assert reader.update(lambda view: given.append(bytes(view)), -2) == 0
    else:
        assert reader.peek(-2) in (b"", None)
    assert b"".join(given) == b""
    assert reader.read(100) == b"abcdefghij"[first:]
    after = next(members)
    assert (after.name, reader.read(after.size)) == ("n", b"next")


def test_byte_sum_is_the_sum_of_the_bytes() -> None:
    """``_byte_sum`` (adler32's low half for an all-ASCII header) is exactly ``sum``: the
    least and the most an ASCII header can sum to, random ones, and non-ASCII ones."""
    import random

    from hullcheck.tarstream import _byte_sum

    rng = random.Random(512)
    headers = [bytes(512), b"\x7f" * 512, b"\x7f" * 511 + b"\x00", b"\xff" * 512]
    headers += [bytes(rng.randrange(128) for _ in range(512)) for _ in range(50)]
    headers += [rng.randbytes(512) for _ in range(20)]
    assert [_byte_sum(h) for h in headers] == [sum(h) for h in headers]
